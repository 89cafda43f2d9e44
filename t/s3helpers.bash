# Shared by the bats files that use the S3 test server
# (scripts/s3-test-server): started once per file, stopped at its end.
# Loading this file defines bats' setup_file, teardown_file, setup and
# teardown.
SERVER="$ROOT/scripts/s3-test-server"
BUCKET=snapvm-test

setup_file() {
	# A short path: Ceph's admin sockets must fit in sun_path.
	S3_TEST_DIR="$(mktemp -d "/tmp/$(basename "$BATS_TEST_FILENAME" .bats)-bats.XXXXXX")/srv"
	export S3_TEST_DIR
	# fd 3 is bats' own: daemons holding it would keep bats waiting.
	"$SERVER" start 3>&- >&2
}

teardown_file() {
	"$SERVER" stop 3>&- >&2
	rmdir "$(dirname "$S3_TEST_DIR")"
}

# Each test: the server's address and keys, a temporary directory TMP, a
# prefix P of its own; its background processes (BG_PIDS) killed at the
# end.
setup() {
	eval "$("$SERVER" env)"
	TMP="$(mktemp -d)"
	P="t$BATS_TEST_NUMBER"
	export S3SNAP_RETRIES=2		# a dead server fails in seconds
	BG_PIDS=
}

teardown() {
	local pid
	for pid in ${BG_PIDS:-}; do
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}

# A signed request straight to the server: s3curl METHOD KEY [QUERY] [curl
# arguments]; prints the body, then the HTTP status on a line of its own.
s3curl() {
	local method=$1 key=$2 query=${3:-}
	shift 3 || shift $#
	curl -s -X "$method" -w '\n%{http_code}\n' \
	    --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$@" \
	    "$AWS_ENDPOINT_URL/$BUCKET/$key${query:+?$query}"
}

# Object $1 into file $2.
s3fetch() {
	curl -sf -o "$2" --aws-sigv4 "aws:amz:$AWS_REGION:s3" \
	    --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
	    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
	    "$AWS_ENDPOINT_URL/$BUCKET/$1"
}

# obj PREFIX DIR NAME: the key of file NAME of layer DIR stored at PREFIX
# (PREFIX/M/NAME, M the SHA-256 of its manifest.json).
obj() {
	echo "$1/$(sha256sum < "$2/manifest.json" | cut -c1-64)/$3"
}

wait_for() {
	for _ in $(seq 300); do
		eval "$1" && return 0
		sleep 0.1
	done
	echo "timed out waiting for: $1" >&2
	return 1
}
