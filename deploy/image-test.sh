#!/usr/bin/env bash
# Build the container image from ./Dockerfile and run it for real, without Docker or a registry.
#
#   sudo deploy/image-test.sh          (CI: .ci/run after `make test`; by hand: `make image-test`)
#
# 1. Base image: a Debian bookworm minbase rootfs with python3 + python3-venv (debootstrap from the
#    mirror in apt's sources), imported as localhost/extend-exporter-base:bookworm-rN. It is cached
#    in the containers storage under $CACHE_DIR, so later runs on the same machine skip debootstrap.
# 2. The README's image step, as written (`make image push IMAGE=registry.example.com/...`), builds the
#    Dockerfile with buildah (IMAGE_TOOL: chroot isolation, vfs storage) and --build-arg
#    BASE_IMAGE=<that base>, then pushes it to an OCI archive (PUSH_DESTINATION: no registry here); pip
#    inside the build reaches PyPI. The rest of the test runs the image under the README's name.
# 3. Checks the image: non-root USER, EXPOSE, VOLUME, HEALTHCHECK, ENTRYPOINT, OCI labels; no
#    shell, package manager, setuid/setgid binary, compiler, pip or caches inside (read from the
#    mounted image: it has no shell to look with); bad settings exit 2.
# 4. Runs the built-in simulator and the exporter from the image in one private network namespace
#    that has nothing but loopback (podman --network none / container:), the exporter the way
#    Kubernetes runs it: read-only root filesystem, all capabilities dropped, no-new-privileges,
#    memory-limited, the API key from a read-only file, state in the volume. Then /readyz, /metrics
#    (also gzip), the image's HEALTHCHECK, the process's UID/capabilities/seccomp, its RSS, and a
#    clean SIGTERM shutdown that leaves the state file behind.
#
# Needs root and: buildah podman runc debootstrap nsenter python3 (.ci/run installs the packages).
# Every step is bounded by `timeout`; everything started is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE_DIR=${EXTEND_CI_CACHE_DIR:-/var/cache/extend-exporter-ci}
RUN_ROOT=/run/extend-exporter-ci
BASE_REV=1 # bump when the base recipe below changes
BASE_IMAGE=localhost/extend-exporter-base:bookworm-r${BASE_REV}
# The README's image step: `make image push IMAGE=<your registry>/extend-exporter:<version>`.
README_STEP=$(sed -n 's/^\(make image push IMAGE=[^ ]*\).*/\1/p' README.md | head -1)
IMAGE=${README_STEP##*IMAGE=}
SIM_PORT=8080
METRICS_PORT=9864
MEMORY_LIMIT=256Mi # = limits.memory in deploy/kubernetes (tests/deploy checks they agree)
API_KEY="image-test-$$-${RANDOM}"

STORE=(--root "$CACHE_DIR/containers" --runroot "$RUN_ROOT" --storage-driver vfs)
PODMAN=(podman "${STORE[@]}" --events-backend file --cgroup-manager cgroupfs --runtime runc)
BUILDAH=(buildah "${STORE[@]}")
ULIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=1024:1024)

START=$SECONDS
TMP=""
SIM=""
EXP=""

log() { printf 'image-test [%3ss] %s\n' "$((SECONDS - START))" "$*"; }
fail() {
    printf 'image-test: FAILED: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ]; then
        for c in "$EXP" "$SIM"; do
            [ -n "$c" ] || continue
            echo "--- logs of $c (last 40 lines)" >&2
            timeout 30 "${PODMAN[@]}" logs --tail 40 "$c" >&2 2>&1 || true
        done
    fi
    for c in "$EXP" "$SIM"; do
        if [ -n "$c" ]; then
            timeout 60 "${PODMAN[@]}" rm --force --volumes --time 5 "$c" >/dev/null 2>&1 || true
        fi
    done
    [ -n "$TMP" ] && rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- preflight -------------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || fail "run as root (buildah/podman with chroot isolation and vfs storage)"
[ -n "$README_STEP" ] || fail "README.md has no 'make image push IMAGE=...' line"
for tool in buildah podman runc debootstrap nsenter python3 timeout flock; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool not found (apt-get install buildah podman runc debootstrap)"
done
mkdir -p "$CACHE_DIR" "$RUN_ROOT"
exec 9>"$CACHE_DIR/lock"
flock --wait 900 9 || fail "another image test holds $CACHE_DIR/lock"
TMP=$(mktemp -d /tmp/extend-image-test.XXXXXX)
# Working containers left behind by an interrupted build.
timeout 120 "${BUILDAH[@]}" rm --all >/dev/null 2>&1 || true

# --- 1. base image -----------------------------------------------------------------------------------
debian_mirror() {
    # The bookworm (non-security) mirror from apt's sources, deb822 or one-line format.
    python3 - <<'PY'
import glob, re
uris = []
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    for stanza in re.split(r"\n\s*\n", open(path, encoding="utf-8").read()):
        fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.M))
        if "bookworm" in fields.get("Suites", "").split() and "main" in fields.get("Components", ""):
            uris += [u for u in fields.get("URIs", "").split() if "security" not in u]
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError:
        continue
    for line in lines:
        m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s+.*\bmain\b", line.strip())
        if m and "security" not in m.group(1):
            uris.append(m.group(1))
print(uris[0] if uris else "http://deb.debian.org/debian")
PY
}

if timeout 60 "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    log "base image $BASE_IMAGE cached"
else
    mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
    log "building base image $BASE_IMAGE with debootstrap from $mirror"
    rootfs="$CACHE_DIR/rootfs.tmp"
    rm -rf "$rootfs"
    timeout 480 debootstrap --variant=minbase --include=python3,python3-venv bookworm "$rootfs" "$mirror" \
        >"$TMP/debootstrap.log" 2>&1 || {
        tail -20 "$TMP/debootstrap.log" >&2
        fail "debootstrap"
    }
    # A container base: no package lists, downloaded packages, docs or logs.
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/log/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/var/cache/debconf/*-old "$rootfs"/etc/machine-id
    tar --numeric-owner -C "$rootfs" -c . |
        timeout 300 "${PODMAN[@]}" import --quiet --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
            --message "debootstrap --variant=minbase bookworm + python3 python3-venv" - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
    log "base image imported"
fi

# --- 2. build ----------------------------------------------------------------------------------------
version=$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
build_flags=(--isolation chroot --format docker --pull=never --layers=false --build-arg "BASE_IMAGE=$BASE_IMAGE")
# Machines whose HTTPS goes through an intercepting proxy trust it through the host's CA bundle: lend
# that bundle to the build's RUN steps (a mount over the base's own bundle, not part of any layer).
host_ca=/etc/ssl/certs/ca-certificates.crt
if [ -f "$host_ca" ]; then
    build_flags+=(--volume "$host_ca:$host_ca:ro" --build-arg "PIP_CERT=$host_ca")
fi
log "building $IMAGE (version $version, revision $revision): $README_STEP"
build_start=$SECONDS
# Word splitting of the README's line is what a shell does with it (it holds no quotes).
# shellcheck disable=SC2086
timeout 600 $README_STEP IMAGE_TOOL="${BUILDAH[*]}" IMAGE_BUILD_FLAGS="${build_flags[*]}" \
    PUSH_DESTINATION="oci-archive:$TMP/pushed.tar" >"$TMP/build.log" 2>&1 || {
    tail -40 "$TMP/build.log" >&2
    fail "$README_STEP"
}
tar -tf "$TMP/pushed.tar" | grep -x 'index.json' >/dev/null || fail "the pushed archive has no OCI index"
build_seconds=$((SECONDS - build_start))
# Earlier builds of the test image are now untagged: drop them so the vfs storage stays bounded.
timeout 300 "${PODMAN[@]}" image prune --force >/dev/null 2>&1 || true
log "built and pushed in ${build_seconds}s ($(du -m "$TMP/pushed.tar" | cut -f1) MB archive)"

# --- 3. image metadata and contents ------------------------------------------------------------------
timeout 60 "${PODMAN[@]}" image inspect "$IMAGE" >"$TMP/inspect.json"
python3 - "$TMP/inspect.json" "$version" "$METRICS_PORT" <<'PY'
import json, sys
image = json.load(open(sys.argv[1]))[0]
version, port = sys.argv[2], sys.argv[3]
config = image["Config"]
problems = []
def expect(cond, what):
    if not cond:
        problems.append(what)
user = config.get("User", "")
expect(user == "10001:10001", f"User is {user!r}, want numeric non-root 10001:10001")
expect(f"{port}/tcp" in config.get("ExposedPorts", {}), f"no EXPOSE {port}")
expect("/var/lib/extend-exporter" in config.get("Volumes", {}), "no VOLUME /var/lib/extend-exporter")
expect(config.get("Entrypoint") == ["extend-exporter"], f"Entrypoint {config.get('Entrypoint')}")
expect(config.get("Cmd") == ["run"], f"Cmd {config.get('Cmd')}")
health = image.get("Healthcheck") or config.get("Healthcheck") or {}  # podman shows it top-level
expect(health.get("Test") == ["CMD", "extend-exporter", "healthcheck"], f"Healthcheck {health}")
labels = config.get("Labels") or {}
for key in ("title", "description", "version", "revision", "created", "licenses", "source"):
    expect(f"org.opencontainers.image.{key}" in labels, f"label org.opencontainers.image.{key} missing")
expect(labels.get("org.opencontainers.image.version") == version, "version label")
env = dict(item.split("=", 1) for item in config.get("Env", []))
expect(env.get("PATH", "").startswith("/opt/venv/bin:"), "venv not first on PATH")
expect("PIP_CERT" not in env, "build-only PIP_CERT leaked into the image")
if problems:
    sys.exit("image config: " + "; ".join(problems))
PY
image_size=$(timeout 60 "${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(timeout 60 "${PODMAN[@]}" image inspect --format '{{.Size}}' "$BASE_IMAGE")
log "image config ok; size $((image_size / 1000000)) MB (base $((base_size / 1000000)) MB)"

# The image's file system, read from outside: the runtime image has no shell to look with.
image_root=$(timeout 60 "${PODMAN[@]}" image mount "$IMAGE")
python3 - "$image_root" >"$TMP/contents.log" 2>&1 <<'PY' || {
import os, stat, sys
root = sys.argv[1]
problems, setuid, files = [], [], 0
forbidden_names = {"sh", "bash", "dash", "ash", "zsh", "busybox", "apt", "apt-get", "dpkg", "gcc", "cc",
                   "c++", "make", "pip", "pip3", "perl", "su", "sudo", "mount", "passwd"}
for dirpath, dirnames, filenames in os.walk(root):
    for name in filenames + dirnames:
        path = os.path.join(dirpath, name)
        rel = "/" + os.path.relpath(path, root)
        st = os.lstat(path)
        if stat.S_ISREG(st.st_mode):
            files += 1
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                setuid.append(rel)
        if name in forbidden_names and os.path.basename(dirpath) in ("bin", "sbin"):
            problems.append(f"found {rel}")
for path in ("/bin/sh", "/usr/bin/sh", "/opt/venv/bin/pip", "/root/.cache", "/src", "/tmp/wheels",
             "/tmp/requirements.txt", "/var/lib/dpkg", "/etc/apt", "/usr/bin/perl"):
    if os.path.lexists(root + path):
        problems.append(f"found {path}")
for dirpath, dirnames, filenames in os.walk(root + "/opt/venv"):
    if any(f.endswith(".whl") for f in filenames) or dirpath.endswith("pip/_internal"):
        problems.append(f"pip or wheels left in {dirpath[len(root):]}")
if setuid:
    problems.append(f"setuid/setgid files: {setuid}")
state = os.stat(root + "/var/lib/extend-exporter")
if (state.st_uid, state.st_gid) != (10001, 10001):
    problems.append(f"/var/lib/extend-exporter owned by {state.st_uid}:{state.st_gid}, want 10001:10001")
if problems:
    sys.exit("; ".join(problems))
print(f"{files} files; no shell, package manager, compiler, pip or setuid/setgid binary")
PY
    timeout 60 "${PODMAN[@]}" image unmount "$IMAGE" >/dev/null 2>&1 || true
    cat "$TMP/contents.log" >&2
    fail "image contents"
}
timeout 60 "${PODMAN[@]}" image unmount "$IMAGE" >/dev/null 2>&1 || true
timeout 120 "${PODMAN[@]}" run --rm --network none "${ULIMITS[@]}" --entrypoint python3 "$IMAGE" \
    -c 'import os, subprocess, sys; assert os.getuid() == 10001, os.getuid(); subprocess.run(["extend-exporter", "--version"], check=True)' \
    >>"$TMP/contents.log" 2>"$TMP/contents.err" || {
    cat "$TMP/contents.log" "$TMP/contents.err" >&2
    fail "running python3 and extend-exporter in the image"
}
log "image contents ok ($(paste -sd ' ' "$TMP/contents.log"))"

set +e
timeout 120 "${PODMAN[@]}" run --rm --network none "${ULIMITS[@]}" "$IMAGE" run >"$TMP/badconfig.log" 2>&1
rc=$?
set -e
[ "$rc" -eq 2 ] || {
    cat "$TMP/badconfig.log" >&2
    fail "without an API key the exporter exited $rc, want 2"
}
log "missing API key exits 2: $(tail -1 "$TMP/badconfig.log")"

# --- 4. run it -----------------------------------------------------------------------------------------
mkdir -p "$TMP/secret" "$TMP/state"
printf '%s\n' "$API_KEY" >"$TMP/secret/api-key"
chmod 0444 "$TMP/secret/api-key"
chown 10001:10001 "$TMP/state"
chmod 0700 "$TMP/state"

SIM=extend-image-test-sim-$$
timeout 120 "${PODMAN[@]}" run --detach --name "$SIM" --network none "${ULIMITS[@]}" --log-driver k8s-file \
    "$IMAGE" simulate --listen "127.0.0.1:$SIM_PORT" --api-key "$API_KEY" --seed 5 --history 3000 --speed 30 \
    >/dev/null 2>>"$TMP/podman.log" || {
    cat "$TMP/podman.log" >&2
    fail "starting the simulator"
}
sim_pid=$(timeout 30 "${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$SIM")
# Everything below talks to the containers inside their network namespace (loopback only).
in_netns() { timeout "$1" nsenter --target "$sim_pid" --net -- "${@:2}"; }
in_netns 60 python3 - "$SIM_PORT" <<'PY' || fail "the simulator did not come up"
import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + 45
while True:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/", timeout=2)
        break
    except urllib.error.HTTPError:
        break  # it answers
    except OSError:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.3)
PY
log "simulator up in its private network namespace"

# The exporter as Kubernetes runs it (deploy/kubernetes/statefulset.yaml), sharing the simulator's
# namespace so that the API is http://127.0.0.1:$SIM_PORT and the exporter keeps its default port.
EXP=extend-image-test-exporter-$$
timeout 120 "${PODMAN[@]}" run --detach --name "$EXP" --network "container:$SIM" "${ULIMITS[@]}" \
    --log-driver k8s-file --read-only --read-only-tmpfs=false --cap-drop ALL \
    --security-opt no-new-privileges --memory "${MEMORY_LIMIT%i}" \
    --volume "$TMP/secret:/var/run/secrets/extend:ro" \
    --volume "$TMP/state:/var/lib/extend-exporter" \
    --env EXTEND_API_KEY_FILE=/var/run/secrets/extend/api-key \
    --env "EXTEND_API_BASE_URL=http://127.0.0.1:$SIM_PORT" \
    --env EXTEND_EXPORTER_POLL_INTERVAL_SECONDS=5 \
    --env EXTEND_EXPORTER_MAX_REQUESTS_PER_SECOND=5 \
    --env EXTEND_EXPORTER_LOG_FORMAT=json \
    "$IMAGE" >/dev/null 2>>"$TMP/podman.log" || {
    cat "$TMP/podman.log" >&2
    fail "starting the exporter"
}
exp_pid=$(timeout 30 "${PODMAN[@]}" inspect --format '{{.State.Pid}}' "$EXP")
log "exporter started (pid $exp_pid)"

cat >"$TMP/probe.py" <<'PY'
"""Wait for /readyz, then check /metrics (plain and gzip) the way Prometheus scrapes it."""
import gzip, re, sys, time, urllib.error, urllib.request

base = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + float(sys.argv[2])

def get(path, **headers):
    request = urllib.request.Request(base + path, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()

status = None
while time.monotonic() < deadline:
    try:
        status, _, body = get("/readyz")
    except OSError:
        status = None
    if status == 200:
        break
    time.sleep(0.5)
if status != 200:
    sys.exit(f"/readyz never answered 200 (last: {status})")
status, _, _ = get("/healthz")
assert status == 200, f"/healthz {status}"

def scrape():
    status, headers, body = get("/metrics")
    assert status == 200, f"/metrics {status}"
    assert headers.get("Content-Type", "").startswith("text/plain"), headers.get("Content-Type")
    samples = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name_labels, _, value = line.rpartition(" ")
            samples[name_labels] = float(value)
    return samples

def values(samples, name):
    return {k: v for k, v in samples.items() if re.match(re.escape(name) + r"(\{|$)", k)}

# Ready means every kind synced once (the baseline); runs finishing after it are counted from then on.
while True:
    samples = scrape()
    up = values(samples, "extend_up")
    build = values(samples, "extend_exporter_build_info")
    finished = sum(values(samples, "extend_runs_finished_total").values())
    syncs = sum(v for k, v in values(samples, "extend_syncs_total").items() if 'result="success"' in k)
    if finished > 0 or time.monotonic() > deadline:
        break
    time.sleep(1)
assert len(up) >= 5 and all(v == 1 for v in up.values()), f"extend_up: {up}"
assert list(build.values()) == [1.0], build
assert finished > 0, "no finished runs counted"
assert syncs >= len(up), f"successful syncs: {syncs}"

status, headers, body = get("/metrics", **{"Accept-Encoding": "gzip"})
assert status == 200 and headers.get("Content-Encoding") == "gzip", headers
assert b"extend_up" in gzip.decompress(body)
print(f"{len(up)} kinds up, {finished:.0f} finished runs counted, {syncs:.0f} successful syncs, "
      f"{len(samples)} samples; {list(build)[0]}")
PY
probe=$(in_netns 150 python3 "$TMP/probe.py" "$METRICS_PORT" 120) || fail "scraping the exporter"
log "ready and scraped: $probe"

timeout 60 "${PODMAN[@]}" healthcheck run "$EXP" >"$TMP/health.log" 2>&1 || {
    cat "$TMP/health.log" >&2
    fail "the image's HEALTHCHECK (extend-exporter healthcheck) failed"
}
log "image HEALTHCHECK passes"

status_of() { awk -v key="$1:" '$1 == key { $1 = ""; sub(/^ /, ""); print; exit }' "/proc/$exp_pid/status"; }
[ "$(status_of Uid)" = "10001 10001 10001 10001" ] || fail "process UIDs: $(status_of Uid)"
[ "$(status_of Gid)" = "10001 10001 10001 10001" ] || fail "process GIDs: $(status_of Gid)"
[ "$(status_of CapEff)" = 0000000000000000 ] || fail "effective capabilities: $(status_of CapEff)"
[ "$(status_of CapBnd)" = 0000000000000000 ] || fail "bounding capabilities: $(status_of CapBnd)"
[ "$(status_of NoNewPrivs)" = 1 ] || fail "no_new_privs not set"
[ "$(status_of Seccomp)" = 2 ] || fail "no seccomp filter"
log "process runs as 10001:10001, no capabilities, no_new_privs, seccomp filtered"

# No shell in the image: probe with its python3.
if timeout 30 "${PODMAN[@]}" exec "$EXP" python3 -c 'open("/probe", "w")' >/dev/null 2>&1; then
    fail "the root filesystem is writable"
fi
timeout 30 "${PODMAN[@]}" exec "$EXP" python3 -c '
import os
p = "/var/lib/extend-exporter/.probe"
open(p, "w").close()
os.remove(p)' || fail "the state volume is not writable"
log "root filesystem read-only, state volume writable"

# Let it sync for a while (a poll every 5s), then read its memory.
sleep 20
in_netns 30 python3 "$TMP/probe.py" "$METRICS_PORT" 10 >/dev/null || fail "scrape after 20s of syncing"
rss_kb=$(status_of VmRSS | awk '{print $1}')
memcg=$(awk -F: '$2 == "memory" { print $3 }' "/proc/$exp_pid/cgroup")
limit_file=/sys/fs/cgroup/memory$memcg/memory.limit_in_bytes
if [ -r "$limit_file" ]; then
    [ "$(cat "$limit_file")" -eq $((${MEMORY_LIMIT%Mi} * 1024 * 1024)) ] || fail "memory limit not applied"
fi
hwm_kb=$(status_of VmHWM | awk '{print $1}')
log "memory: RSS $((rss_kb / 1024)) MiB, peak $((hwm_kb / 1024)) MiB (limit $MEMORY_LIMIT)"

# Abuse (issue 14): 3,000 half-open connections and 40 clients sending ~6 MB of headers for 20 s,
# while a good client scrapes /metrics; the exporter must survive its memory limit and keep answering.
cat >"$TMP/scrape-during.py" <<'PY'
import sys, time, urllib.request
base, seconds = f"http://127.0.0.1:{sys.argv[1]}", float(sys.argv[2])
latencies, failures = [], []
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(base + "/metrics", timeout=5) as response:
            response.read()
    except OSError as exc:
        failures.append(repr(exc))
    latencies.append(time.perf_counter() - started)
    time.sleep(0.2)
latencies.sort()
p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
print(f"{len(latencies)} scrapes, {len(failures)} failed, p99 {p99 * 1000:.0f} ms")
sys.exit(1 if failures else 0)
PY
in_netns 90 python3 -m tests.reliability.abuse half-open 127.0.0.1 "$METRICS_PORT" --seconds 20 >"$TMP/abuse1.log" 2>&1 &
abuse1=$!
in_netns 90 python3 -m tests.reliability.abuse big-headers 127.0.0.1 "$METRICS_PORT" --connections 40 --seconds 20 \
    >"$TMP/abuse2.log" 2>&1 &
abuse2=$!
during=$(in_netns 60 python3 "$TMP/scrape-during.py" "$METRICS_PORT" 20) || fail "scrapes failed under abuse: $during"
wait "$abuse1" || { cat "$TMP/abuse1.log" >&2; fail "half-open attacker"; }
wait "$abuse2" || { cat "$TMP/abuse2.log" >&2; fail "big-header attacker"; }
[ "$(timeout 30 "${PODMAN[@]}" inspect --format '{{.State.Running}}' "$EXP")" = true ] || fail "exporter died under abuse"
timeout 30 "${PODMAN[@]}" logs "$EXP" 2>&1 | grep 'refused or closed connections' >/dev/null || fail "no WARNING about refusals"
abuse_hwm_kb=$(status_of VmHWM | awk '{print $1}')
log "abuse survived: $during; peak RSS $((abuse_hwm_kb / 1024)) MiB, threads $(status_of Threads)"

# SIGTERM: a clean exit within the grace period, with the state saved in the volume.
timeout 60 "${PODMAN[@]}" stop --time 15 "$EXP" >/dev/null 2>>"$TMP/podman.log"
exit_code=$(timeout 30 "${PODMAN[@]}" inspect --format '{{.State.ExitCode}}' "$EXP")
[ "$exit_code" = 0 ] || fail "exporter exited $exit_code on SIGTERM"
[ -s "$TMP/state/state.json" ] || fail "no state file in the volume after shutdown"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$TMP/state/state.json" || fail "state file is not JSON"
[ "$(stat -c %u "$TMP/state/state.json")" = 10001 ] || fail "state file not owned by 10001"
log "SIGTERM: exit 0, state saved ($(stat -c %s "$TMP/state/state.json") bytes)"

printf 'image-test: OK image=%s size=%sMB base=%sMB rss=%sMiB peak=%sMiB build=%ss total=%ss\n' \
    "$IMAGE" "$((image_size / 1000000))" "$((base_size / 1000000))" "$((rss_kb / 1024))" \
    "$((hwm_kb / 1024))" "$build_seconds" "$((SECONDS - START))"
