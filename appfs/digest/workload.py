"""digest: SHA-256 and zlib-compressed size of a text payload."""
import hashlib
import zlib


def handle(event):
    data = (event["data"] if isinstance(event, dict) else str(event))
    raw = data.encode("utf-8") * int(event.get("repeat", 1)
                                     if isinstance(event, dict) else 1)
    packed = zlib.compress(raw, 9)
    return {
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "zlib_bytes": len(packed),
        "ratio": round(len(packed) / len(raw), 4) if raw else None,
    }
