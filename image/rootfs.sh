#!/bin/sh
# Assemble the image's runtime root file system under $1, in the Dockerfile's build stage.
#
# It holds only what `extend-exporter` runs on: the Python interpreter (and the symlinks leading to
# it), its standard library without test suites and GUI/dev modules, the venv at /opt/venv, the shared
# libraries all of those load (found with ldd, copied at the paths the loader resolves), CA
# certificates and time zones when the base has them, and /etc/passwd + /etc/group naming UID 10001.
# No shell, package manager, coreutils or setuid/setgid binary: the runtime stage is FROM scratch.
set -eu
root=$1
venv=${VENV:-/opt/venv}
mkdir -p "$root"

# (Not cp --parents: coreutils 9.1's fails on some paths.)
copy() { # as is, symlinks staying symlinks; a directory with everything in it
    for item in "$@"; do
        mkdir -p "$root$(dirname "$item")"
        if [ -d "$item" ] && [ ! -L "$item" ]; then
            mkdir -p "$root$item"
            cp -a "$item/." "$root$item/"
        else
            cp -a "$item" "$root$item"
        fi
    done
}
copy_file() { # the content, at the path given (a symlink is followed)
    mkdir -p "$root$(dirname "$1")"
    cp -L "$1" "$root$1"
}

# The interpreter: every symlink on the way from the venv to the binary, then the binary.
path=$venv/bin/python3
while [ -L "$path" ]; do
    copy "$path"
    target=$(readlink "$path")
    case $target in
    /*) path=$target ;;
    *) path=$(dirname "$path")/$target ;;
    esac
done
copy_file "$path"
python=$path

stdlib=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')  # lib-dynload is inside
copy "$venv" "$stdlib"
for unused in test idlelib tkinter turtledemo ensurepip lib2to3 pydoc_data distutils/tests \
    unittest/test ctypes/test sqlite3/test; do
    rm -rf "${root:?}$stdlib/$unused"
done
rm -rf "${root:?}$stdlib"/config-3.*
rm -f "$root$venv"/bin/activate* "$root$venv"/bin/pip* "$root$venv"/bin/Activate.ps1

# Shared libraries of the interpreter and of every extension module, at the paths ldd resolves.
{
    echo "$python"
    find "$stdlib" "$venv" -type f -name '*.so*'
} | while read -r elf; do
    ldd "$elf" 2>/dev/null | awk '/=> \// { print $3 } /^[[:space:]]+\/[^ ]+ \(/ { print $1 }'
done | sort -u | while read -r lib; do
    copy_file "$lib"
done
# dlopen()ed by glibc itself (thread cancellation), not listed by ldd.
for lib in /lib/*-linux-gnu/libgcc_s.so.1 /usr/lib/*-linux-gnu/libgcc_s.so.1; do
    if [ -e "$lib" ]; then copy_file "$lib"; fi
done
for path in /etc/ld.so.cache /etc/ld.so.conf /etc/ld.so.conf.d /etc/ssl /usr/lib/ssl /usr/share/zoneinfo \
    /usr/share/ca-certificates; do
    if [ -e "$path" ]; then copy "$path"; fi
done

mkdir -p "$root/etc" "$root/tmp" "$root/var/lib/extend-exporter"
chmod 1777 "$root/tmp"
printf 'root:x:0:0:root:/root:/nonexistent\nextend-exporter:x:10001:10001::/var/lib/extend-exporter:/nonexistent\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\nextend-exporter:x:10001:\n' >"$root/etc/group"
chown 10001:10001 "$root/var/lib/extend-exporter"
chmod 0750 "$root/var/lib/extend-exporter"

# Nothing setuid/setgid may have come along (none should: only libraries and Python files are copied).
find "$root" -perm /6000 -type f -exec chmod ug-s {} +
# It runs on its own: the exporter imports and answers, with nothing from the build stage around it.
chroot "$root" "$venv/bin/python3" -c 'import ssl, zlib, socket, json, ctypes, sqlite3' 2>/dev/null ||
    chroot "$root" "$venv/bin/python3" -c 'import ssl, zlib, socket, json'
if [ -x "$root$venv/bin/extend-exporter" ]; then chroot "$root" "$venv/bin/extend-exporter" --version; fi
