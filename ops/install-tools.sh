#!/usr/bin/env bash
# Brings what the ops checks of `make test` need (tests/ops/test_prometheus.py,
# test_compose.py, test_k8s.py), each only when absent:
#   promtool        extracted from Debian's prometheus package into TOOLS/bin; the
#                   package itself is never installed (it starts a daemon).
#   docker-compose  Debian's 1.29, without its recommended docker.io (a daemon too).
# kubectl is not packaged in this Debian release: it is used when present.
# A tool that cannot be had is reported here, and its tests skip saying why.
set -uo pipefail
tools="${1:?usage: install-tools.sh TOOLS_DIR}"
mkdir -p "$tools/bin"

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi
}

if [ ! -x "$tools/bin/promtool" ] && ! command -v promtool >/dev/null; then
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    if (cd "$work" && { apt-get download prometheus 2>/dev/null \
            || { as_root apt-get update -qq && apt-get download prometheus; }; }) \
        && dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"$work/promtool" \
        && chmod +x "$work/promtool" && mv "$work/promtool" "$tools/bin/promtool"; then
        echo "ops tools: promtool extracted into $tools/bin"
    else
        echo "ops tools: could not fetch Debian's prometheus package; promtool checks will skip" >&2
    fi
fi

if ! command -v docker-compose >/dev/null; then
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null \
        || { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends docker-compose >/dev/null; }; then
        echo "ops tools: installed Debian's docker-compose"
    else
        echo "ops tools: could not install docker-compose (needs root); compose checks will skip" >&2
    fi
fi

command -v kubectl >/dev/null || echo "ops tools: kubectl absent; kustomize checks will skip" >&2
exit 0
