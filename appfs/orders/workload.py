"""orders: turns a list of order lines into per-item totals.

Input: {"currency": "EUR", "orders": [{"item": str, "qty": int,
"unit_price": number}, ...]}.  Output: items sorted by revenue, the grand
total, and the lines that were rejected with the reason.
"""
from decimal import Decimal, ROUND_HALF_EVEN


def money(x):
    return Decimal(str(x)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def handle(event):
    totals, rejected = {}, []
    for n, line in enumerate(event.get("orders", [])):
        try:
            item, qty = str(line["item"]), int(line["qty"])
            price = money(line["unit_price"])
            if qty <= 0 or price < 0:
                raise ValueError("quantity and price must be positive")
        except (KeyError, TypeError, ValueError, ArithmeticError) as e:
            rejected.append({"line": n, "reason": str(e) or type(e).__name__})
            continue
        t = totals.setdefault(item, {"item": item, "qty": 0,
                                     "revenue": Decimal(0)})
        t["qty"] += qty
        t["revenue"] += qty * price
    items = sorted(totals.values(), key=lambda t: (-t["revenue"], t["item"]))
    grand = sum((t["revenue"] for t in items), Decimal(0))
    for t in items:
        t["revenue"] = str(t["revenue"])
    return {"currency": event.get("currency", "EUR"), "items": items,
            "total": str(grand), "rejected": rejected}
