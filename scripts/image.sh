#!/usr/bin/env bash
# Build and smoke-test the connector image with podman, without a Docker daemon or registry.
#
#   bash scripts/image.sh          build both images (run as root):
#                                  localhost/destination-propexo:dev from the Dockerfile (uv.lock's
#                                  packages), and localhost/destination-propexo:airbyte-build from
#                                  Dockerfile.airbyte (Airbyte's way: `pip install .` on
#                                  python-connector-base)
#   bash scripts/image.sh smoke    run spec, check and a 20-record write from each image against
#                                  the sandbox, and check that the first holds exactly uv.lock's
#                                  runtime packages
#
# No image can be pulled on the machines this targets, so the base image is a Debian bookworm
# minbase with python3, made with debootstrap once per machine and cached as
# localhost/debian-python:bookworm; Airbyte's python-connector-base is stood in for by that base
# with a user airbyte (uid 1000) and its Python open to `pip install` (as in the real base),
# cached as localhost/python-connector-base:bookworm. Real users build the Dockerfiles' default
# base instead. Set DESTINATION_PROPEXO_IMAGE or DESTINATION_PROPEXO_AIRBYTE_IMAGE to build or
# smoke-test other tags.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE_IMAGE="localhost/debian-python:bookworm"
AIRBYTE_BASE_IMAGE="localhost/python-connector-base:bookworm"
IMAGE="${DESTINATION_PROPEXO_IMAGE:-localhost/destination-propexo:dev}"
AIRBYTE_IMAGE="${DESTINATION_PROPEXO_AIRBYTE_IMAGE:-localhost/destination-propexo:airbyte-build}"
PYTHON="$ROOT/.venv/bin/python"
UV="$ROOT/.tools/bin/uv"
# crun and the default rlimits fail on these machines; runc with these limits works.
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

log() { printf '==> %s\n' "$*"; }
die() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

require_root() {
    [[ "$(id -u)" -eq 0 ]] || die "run as root (podman, apt-get and debootstrap need it)"
}

ensure_tools() {
    local missing=()
    for tool in podman runc debootstrap; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        log "installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap
    fi
}

debian_mirror() {
    local sources=/etc/apt/sources.list.d/debian.sources
    local mirror=""
    [[ -r "$sources" ]] && mirror="$(awk '/^URIs:/{print $2; exit}' "$sources")"
    printf '%s\n' "${mirror:-http://deb.debian.org/debian}"
}

ensure_base_image() {
    if "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
        log "base image $BASE_IMAGE is cached"
        return
    fi
    local rootfs started=$SECONDS
    rootfs="$(mktemp -d)"
    log "building base image $BASE_IMAGE with debootstrap (about a minute, once per machine)"
    if ! debootstrap --variant=minbase --include=python3,python3-venv,python3-pip \
        bookworm "$rootfs" "$(debian_mirror)" >"$rootfs.log" 2>&1; then
        tail -n 20 "$rootfs.log" >&2
        rm -rf "$rootfs" "$rootfs.log"
        die "debootstrap failed"
    fi
    tar -C "$rootfs" -c . | "${PODMAN[@]}" import - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs" "$rootfs.log"
    log "base image built in $((SECONDS - started))s"
}

ensure_airbyte_base_image() {
    # What the connector's build relies on in Airbyte's base: `python` and `pip` on the PATH, a
    # Python whose packages `pip install` may change (no PEP 668 marker; Debian's pip installs
    # under /usr/local, as the base's does), the user airbyte (uid 1000) and /airbyte.
    # UV_NATIVE_TLS: uv trusts the machine's CA certificates, as Debian's pip does.
    if "${PODMAN[@]}" image exists "$AIRBYTE_BASE_IMAGE"; then
        log "base image $AIRBYTE_BASE_IMAGE is cached"
        return
    fi
    log "building base image $AIRBYTE_BASE_IMAGE"
    local context
    context="$(mktemp -d)"
    cat >"$context/Containerfile" <<CONTAINERFILE
FROM $BASE_IMAGE
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED \\
    && ln -s /usr/bin/python3 /usr/local/bin/python \\
    && useradd --uid 1000 --user-group --no-create-home --shell /usr/sbin/nologin airbyte \\
    && mkdir -m 755 /airbyte && chown airbyte:airbyte /airbyte
ENV UV_NATIVE_TLS=1
CONTAINERFILE
    "${PODMAN[@]}" build --network=host "${LIMITS[@]}" -t "$AIRBYTE_BASE_IMAGE" "$context" >/dev/null
    rm -rf "$context"
}

build_image() {  # build_image TAG DOCKERFILE BASE
    local tag=$1 dockerfile=$2 base=$3 started=$SECONDS
    log "building $tag from $(basename "$dockerfile")"
    "${PODMAN[@]}" build --network=host "${LIMITS[@]}" \
        -v /etc/ssl/certs:/etc/ssl/certs:ro \
        --build-arg BASE_IMAGE="$base" \
        --label "io.destination-propexo.build-context=$CONTEXT_DIGEST" \
        -t "$tag" -f "$dockerfile" "$ROOT"
    log "image $tag built in $((SECONDS - started))s"
}

build() {
    require_root
    ensure_tools
    ensure_base_image
    ensure_airbyte_base_image
    # The label integration_tests/test_image.py checks: which tree each image was built from.
    CONTEXT_DIGEST="$(python3 "$ROOT/scripts/build_context.py" "$ROOT")"
    build_image "$IMAGE" "$ROOT/Dockerfile" "$BASE_IMAGE"
    build_image "$AIRBYTE_IMAGE" "$ROOT/Dockerfile.airbyte" "$AIRBYTE_BASE_IMAGE"
    # Drop the images this build untagged (this connector's only; build layers stay cached).
    "${PODMAN[@]}" image prune -f --filter label=io.airbyte.name=airbyte/destination-propexo >/dev/null
}

# --- smoke ------------------------------------------------------------------------------------

FAILURES=0
WORKDIR=""
SANDBOX_PID=""
SANDBOX_URL=""

cleanup() {
    [[ -n "$SANDBOX_PID" ]] && kill "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null
    [[ -n "$WORKDIR" ]] && rm -rf "$WORKDIR"
    return 0
}

verdict() {  # verdict NAME OUTPUT_FILE CHECK_EXPRESSION (Python, over `messages`)
    local name=$1 output=$2 expression=$3
    if "$PYTHON" - "$output" "$expression" <<'PY'; then
import json
import sys

messages = []
for line in open(sys.argv[1], encoding="utf-8"):
    try:
        messages.append(json.loads(line))
    except ValueError:
        sys.exit(f"not an Airbyte message: {line.rstrip()}")
sys.exit(0 if eval(sys.argv[2], {"messages": messages}) else 1)
PY
        printf 'PASS: %s\n' "$name"
    else
        printf 'FAIL: %s (exit status %s); stdout, then stderr:\n' "$name" "$(cat "$output.status")"
        tail -n 20 "$output" | sed 's/^/    /'
        tail -n 20 "$output.stderr" | sed 's/^/    /'
        FAILURES=$((FAILURES + 1))
    fi
}

run_image() {  # run_image OUTPUT_FILE ARGS... (stdin is passed through; ENTRYPOINT may override)
    local output=$1
    shift
    "${PODMAN[@]}" run --rm -i --network=host "${LIMITS[@]}" ${ENTRYPOINT:+--entrypoint "$ENTRYPOINT"} \
        -v "$WORKDIR/secrets:/secrets:ro" "$IMAGE" "$@" >"$output" 2>"$output.stderr" \
        && echo 0 >"$output.status" || echo $? >"$output.status"
}

start_sandbox() {  # sets SANDBOX_PID and SANDBOX_URL
    local log_file="$WORKDIR/sandbox.log"
    for _ in $(seq 60); do  # the sandbox module may still be being written
        "$PYTHON" -c 'import propexo_sandbox.__main__' 2>/dev/null && break
        sleep 5
    done
    : >"$log_file"  # before the sandbox opens it, so the poll below always has a file to read
    "$PYTHON" -m propexo_sandbox --host 127.0.0.1 --port 0 >>"$log_file" 2>&1 &
    SANDBOX_PID=$!
    for _ in $(seq 100); do
        SANDBOX_URL="$(sed -n 's/^sandbox listening on //p' "$log_file")"
        [[ -n "$SANDBOX_URL" ]] && break
        kill -0 "$SANDBOX_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n "$SANDBOX_URL" ]] || { cat "$log_file" >&2; die "the sandbox did not start"; }
}

smoke_image() {  # smoke_image IMAGE: spec, check and a 20-record write against the sandbox
    IMAGE=$1
    log "smoke test of $IMAGE"
    run_image "$WORKDIR/spec.out" spec </dev/null
    verdict "$IMAGE: spec prints a SPEC message" "$WORKDIR/spec.out" \
        'any(m["type"] == "SPEC" and m["spec"]["connectionSpecification"] for m in messages)'

    run_image "$WORKDIR/check.out" check --config /secrets/config.json </dev/null
    verdict "$IMAGE: check succeeds against the sandbox" "$WORKDIR/check.out" \
        'any(m["type"] == "CONNECTION_STATUS" and m["connectionStatus"]["status"] == "SUCCEEDED" for m in messages)'

    # 20 tours, each a lead of its own (named after the image, so the two writes never meet),
    # then a STATE: it is echoed once all 20 have their outcome.
    "$PYTHON" - "$IMAGE" >"$WORKDIR/input.jsonl" <<'PY'
import json
import sys

tag = sys.argv[1].rsplit(":", 1)[-1]
for number in range(20):
    data = {
        "lead_id": f"lead-{tag}-{number}",
        "lead_source_id": "src-1",
        "appointment_date": f"2024-07-{10 + number:02d}",
        "appointment_time": "14:00",
    }
    record = {"stream": "tours", "data": data, "emitted_at": 0}
    print(json.dumps({"type": "RECORD", "record": record}))
state = {"stream_descriptor": {"name": "tours"}, "stream_state": {"cursor": "20"}}
print(json.dumps({"type": "STATE", "state": {"type": "STREAM", "stream": state}}))
PY
    run_image "$WORKDIR/write.out" write --config /secrets/config.json \
        --catalog /secrets/catalog.json <"$WORKDIR/input.jsonl"
    verdict "$IMAGE: write books 20 records and echoes the STATE with destinationStats" \
        "$WORKDIR/write.out" \
        'any(m["type"] == "STATE" and m["state"]["stream"]["stream_state"] == {"cursor": "20"} and m["state"].get("destinationStats", {}).get("recordCount") == 20 for m in messages)'
}

smoke() {
    [[ -x "$PYTHON" && -x "$UV" ]] || die "no $PYTHON or $UV: run make setup first"
    local locked_image=$IMAGE image
    for image in "$IMAGE" "$AIRBYTE_IMAGE"; do
        "${PODMAN[@]}" image exists "$image" || die "no image $image: run bash scripts/image.sh first"
    done
    trap cleanup EXIT
    WORKDIR="$(mktemp -d)"
    local secrets="$WORKDIR/secrets"
    start_sandbox
    log "sandbox at $SANDBOX_URL"

    # The container runs as airbyte (uid 1000), so the mounted files must be world-readable.
    mkdir -m 755 "$secrets"
    printf '{"token":"sandbox-token","integration_id":"intg-sandbox-resman","api_url":"%s","requests_per_minute":6000}\n' \
        "$SANDBOX_URL" >"$secrets/config.json"
    cat >"$secrets/catalog.json" <<'JSON'
{"streams":[{"stream":{"name":"tours","json_schema":{},"supported_sync_modes":["full_refresh"]},"sync_mode":"full_refresh","destination_sync_mode":"append"}]}
JSON
    chmod 644 "$secrets"/*.json

    smoke_image "$AIRBYTE_IMAGE"
    smoke_image "$locked_image"

    # uv.lock's runtime set, each package kept where its marker holds for the image's Python,
    # against what the image's venv holds: the same names at the same versions, nothing more.
    "$UV" export --frozen --no-dev --no-emit-project --no-hashes --no-header --no-annotate \
        --format requirements-txt --quiet >"$secrets/locked.txt"
    chmod 644 "$secrets/locked.txt"
    ENTRYPOINT=python run_image "$WORKDIR/lock.out" - <<'PY'
import importlib.metadata
import json

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

locked = {}
for line in open("/secrets/locked.txt", encoding="utf-8"):
    if line.strip() and not line.lstrip().startswith("#"):
        requirement = Requirement(line.strip())
        if requirement.marker is None or requirement.marker.evaluate():
            locked[canonicalize_name(requirement.name)] = str(requirement.specifier)[2:]
installed = {
    canonicalize_name(dist.metadata["Name"]): dist.version
    for dist in importlib.metadata.distributions()
}
connector = installed.pop("airbyte-destination-propexo", None)
differences = sorted(set(locked.items()) ^ set(installed.items()))
print(json.dumps({"locked": len(locked), "installed": len(installed), "connector": connector,
                  "differences": [f"{name}=={version}" for name, version in differences]}))
PY
    verdict "$IMAGE: the image holds exactly uv.lock's runtime packages" "$WORKDIR/lock.out" \
        'messages[-1]["locked"] > 0 and messages[-1]["connector"] and not messages[-1]["differences"]'
    tail -n 1 "$WORKDIR/lock.out" | sed 's/^/    /'

    if ((FAILURES)); then
        printf 'FAIL: %d of 7 smoke checks failed\n' "$FAILURES"
        exit 1
    fi
    printf 'PASS: smoke test of %s and %s\n' "$IMAGE" "$AIRBYTE_IMAGE"
}

case "${1:-build}" in
    build) build ;;
    smoke) smoke ;;
    *) die "usage: bash scripts/image.sh [build|smoke]" ;;
esac
