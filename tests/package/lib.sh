# Shell helpers shared by tests/package/*.sh (sourced, not run).

# say: a line on stderr with the script's name.
say() { printf '%s: %s\n' "${SCRIPT_NAME:-package}" "$*" >&2; }

# now_s: seconds since the epoch with fractions, for timing the steps.
now_s() { date +%s.%N; }

# elapsed START: seconds since START, one decimal.
elapsed() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# copy_tree SRC DEST: the source tree as a developer has it (tracked files
# plus untracked ones that .gitignore does not exclude), without build
# output. Falls back to copying everything but build output where git or
# .git is missing (e.g. a tree already copied into a chroot).
copy_tree() {
    local src=$1 dest=$2
    mkdir -p "$dest"
    if command -v git >/dev/null 2>&1 && git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
        # only files that exist: the working tree may have deletions not
        # yet committed
        (cd "$src" && git ls-files -z -co --exclude-standard |
            while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
            tar --null -T - -cf -) | tar -C "$dest" -xf -
    else
        (cd "$src" && tar -cf - --exclude=./.git --exclude=./build --exclude=./.libs \
            --exclude='*.lo' --exclude='*.slo' --exclude='*.la' --exclude='*.o' \
            --exclude=__pycache__ .) | tar -C "$dest" -xf -
    fi
}

# debian_mirror [security]: the Debian archive URI this machine's apt uses,
# read from its sources (one-line .list and deb822 .sources files), so that
# nothing names a host. With "security", the URI that serves
# <codename>-security instead. Prints nothing when none is found.
debian_mirror() {
    local want=${1:-main} codename
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || return 0
    local suite=$codename
    [ "$want" = security ] && suite=$codename-security
    {
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -f "$f" ] || continue
            # deb [opts] URI SUITE COMPONENTS...
            sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" |
                awk -v s="$suite" '$1 == "deb" && $3 == s { print $2 }'
        done
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk -v s="$suite" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " ") && enabled != "no" && uris != "")
                        { split(uris, u, " "); print u[1] }
                    types = suites = uris = enabled = ""
                }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                tolower($1) == "types:"   { $1 = ""; types = $0 }
                tolower($1) == "suites:"  { $1 = ""; suites = $0 }
                tolower($1) == "uris:"    { $1 = ""; uris = $0 }
                tolower($1) == "enabled:" { enabled = tolower($2) }
                END { flush() }' "$f"
        done
    } | sed -e 's/^ *//' -e 's#/*$##' | head -n 1
}

# is_mounted DIR: whether DIR itself is a mount point.
is_mounted() { awk -v d="$1" '$2 == d { f = 1 } END { exit !f }' /proc/self/mounts; }

# umount_under DIR: unmount everything mounted at or below DIR, deepest
# first (lazily when busy).
umount_under() {
    local d=${1%/} m
    for m in $(awk -v d="$d" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || say "cannot unmount $m"
    done
}

# safe_rm_root DIR: remove a chroot directory, refusing while anything is
# still mounted below it (a bind mount would take the host's files along).
safe_rm_root() {
    local d=${1%/}
    umount_under "$d"
    if awk -v d="$d" '$2 == d || index($2, d "/") == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
        say "refusing to remove $d: still mounted"
        return 1
    fi
    rm -rf --one-file-system "$d"
}
