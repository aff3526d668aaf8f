#!/usr/bin/env bash
# Provides the pinned server binaries Stackly runs against: temporal (CLI + dev server + Web UI),
# vault (Transit), minio (S3) and tofu. For each one, in order:
#   1. a binary on PATH that reports the pinned version is used as is;
#   2. otherwise the cached binary  $STACKLY_CACHE_DIR/bin/<name>-<version>  is used;
#   3. otherwise the official release is downloaded (checksum verified) when its host answers;
#   4. otherwise it is built from Go modules through the Go module proxy (see ../shared/TOOLCHAIN.md).
# Usage: scripts/tools.sh [--print-env] [name...]     (default: all four)
# With --print-env it prints `export STACKLY_<NAME>_BIN=...` lines for `eval`.
# Nothing is built or stored inside the repository.
set -euo pipefail

CACHE="${STACKLY_CACHE_DIR:-$HOME/.cache/stackly}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

TEMPORAL_VERSION=1.5.1
VAULT_VERSION=1.21.0
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
TOFU_VERSION=1.12.6

print_env=0
names=()
for a in "$@"; do
  case "$a" in
    --print-env) print_env=1 ;;
    temporal|vault|minio|tofu) names+=("$a") ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "tools: unknown argument '$a' (expected temporal, vault, minio, tofu or --print-env)" >&2; exit 2 ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=(temporal vault minio tofu)

log() { echo "tools: $*" >&2; }
now() { date +%s; }
die() { echo "tools: error: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required to $2 but is not on PATH${3:+ ($3)}"
}

go_env() {
  need go "build $1 from Go modules" "install Go >= 1.24 from https://go.dev/dl or your distribution"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-trimpath -buildvcs=false"
}

version_of() { # name path -> prints the version line
  case "$1" in
    temporal) "$2" --version 2>/dev/null | head -1 ;;
    vault) "$2" version 2>/dev/null | head -1 ;;
    tofu) "$2" version 2>/dev/null | head -1 ;;
    minio) "$2" --version 2>/dev/null | head -1 ;;
  esac
}

pinned() { case "$1" in temporal) echo "$TEMPORAL_VERSION";; vault) echo "$VAULT_VERSION";; minio) echo "$MINIO_VERSION";; tofu) echo "$TOFU_VERSION";; esac; }

# A PATH binary qualifies only when it reports the pinned version.
path_matches() {
  local name=$1 p v
  p=$(command -v "$name" 2>/dev/null) || return 1
  v=$(version_of "$name" "$p") || return 1
  case "$name" in
    temporal) [[ "$v" == *"version $TEMPORAL_VERSION "* ]] ;;
    vault) [[ "$v" == "Vault v$VAULT_VERSION"* ]] ;;
    tofu) [[ "$v" == "OpenTofu v$TOFU_VERSION" ]] ;;
    minio) [[ "$v" == *"${MINIO_VERSION##*-}"* ]] ;;
  esac && echo "$p"
}

online() { # host -> 0 when an HTTPS request to it answers within 5 s
  command -v curl >/dev/null 2>&1 || return 1
  curl -fsS -o /dev/null --max-time 5 -I "https://$1" 2>/dev/null
}

download() { # name dest -> 0 when downloaded and verified
  local name=$1 dest=$2 url sums file tmp
  case "$name" in
    temporal) online github.com || return 1
      file="temporal_cli_${TEMPORAL_VERSION}_linux_amd64.tar.gz"
      url="https://github.com/temporalio/cli/releases/download/v${TEMPORAL_VERSION}"
      sums="$url/checksums.txt" ;;
    tofu) online github.com || return 1
      file="tofu_${TOFU_VERSION}_linux_amd64.zip"
      url="https://github.com/opentofu/opentofu/releases/download/v${TOFU_VERSION}"
      sums="$url/tofu_${TOFU_VERSION}_SHA256SUMS" ;;
    vault) online releases.hashicorp.com || return 1
      file="vault_${VAULT_VERSION}_linux_amd64.zip"
      url="https://releases.hashicorp.com/vault/${VAULT_VERSION}"
      sums="$url/vault_${VAULT_VERSION}_SHA256SUMS" ;;
    minio) return 1 ;; # MinIO publishes no binary for this source-only pin: always built.
  esac
  [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || return 1
  tmp=$(mktemp -d)
  log "$name: downloading $url/$file"
  if ! curl -fsSL --max-time 600 -o "$tmp/$file" "$url/$file" || ! curl -fsSL --max-time 60 -o "$tmp/sums" "$sums"; then
    rm -rf "$tmp"; return 1
  fi
  (cd "$tmp" && grep " $file\$" sums | sha256sum -c - >/dev/null) || { rm -rf "$tmp"; die "$name: checksum mismatch for $file"; }
  case "$file" in
    *.zip) need unzip "unpack $file"; unzip -q -o "$tmp/$file" -d "$tmp/x" ;;
    *.tar.gz) mkdir -p "$tmp/x"; tar -xzf "$tmp/$file" -C "$tmp/x" ;;
  esac
  install -m 0755 "$tmp/x/$name" "$dest"
  rm -rf "$tmp"
}

build() { # name dest
  local name=$1 dest=$2 tmp
  go_env "$name"
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/stackly-build-$name.XXXXXX")
  build_in "$name" "$dest" "$tmp"
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

build_in() { # name dest tmpdir
  local name=$1 dest=$2 tmp=$3
  case "$name" in
    temporal)
      GOBIN="$tmp" go install -ldflags "-s -w" "github.com/temporalio/cli/cmd/temporal@v${TEMPORAL_VERSION}"
      mv "$tmp/temporal" "$dest" ;;
    minio)
      GOBIN="$tmp" go install -ldflags "-s -w" "github.com/minio/minio@${MINIO_VERSION}"
      mv "$tmp/minio" "$dest" ;;
    tofu)
      (cd "$tmp" && go mod init b >/dev/null 2>&1 &&
        echo 'replace github.com/hashicorp/hcl/v2 => github.com/opentofu/hcl/v2 v2.20.2-0.20251021132045-587d123c2828' >> go.mod &&
        go get "github.com/opentofu/opentofu/cmd/tofu@v${TOFU_VERSION}" &&
        go build -ldflags "-s -w -X 'github.com/opentofu/opentofu/version.dev=no'" -o "$tmp/tofu.out" github.com/opentofu/opentofu/cmd/tofu)
      mv "$tmp/tofu.out" "$dest" ;;
    vault)
      (cd "$tmp" && go mod init b >/dev/null 2>&1 &&
        cat >> go.mod <<'MOD'
replace (
	github.com/99designs/keyring => github.com/Jeffail/keyring v1.2.3
	github.com/ma314smith/signedxml v1.1.1 => github.com/moov-io/signedxml v1.1.1
	github.com/hashicorp/vault/api => github.com/hashicorp/vault/api v1.22.0
	github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk v0.20.0
)
MOD
        go get "github.com/hashicorp/vault@v${VAULT_VERSION}" &&
        go build -ldflags "-s -w" -o "$tmp/vault.out" github.com/hashicorp/vault)
      mv "$tmp/vault.out" "$dest" ;;
  esac
}

provide() {
  local name=$1 version dest p t0
  version=$(pinned "$name")
  if p=$(path_matches "$name"); then
    log "$name $version: using $p (on PATH)"
    echo "$p"; return
  fi
  dest="$BIN/$name-$version"
  if [ -x "$dest" ]; then
    log "$name $version: using cached $dest"
    echo "$dest"; return
  fi
  # One provider at a time per binary: a second caller waits for the first build.
  exec {lock}>"$BIN/.$name-$version.lock"
  flock "$lock"
  if [ -x "$dest" ]; then
    log "$name $version: using cached $dest (built by a concurrent run)"
    echo "$dest"; return
  fi
  t0=$(now)
  if download "$name" "$dest.part"; then
    mv "$dest.part" "$dest"
    log "$name $version: downloaded in $(( $(now) - t0 )) s"
  else
    rm -f "$dest.part"
    log "$name $version: no download reachable; building from Go modules (minutes; cached afterwards)"
    if ! build "$name" "$dest.part"; then
      rm -f "$dest.part"
      die "$name $version: build failed (see the go output above). Needs the Go module proxy (GOPROXY=$(go env GOPROXY 2>/dev/null))"
    fi
    mv "$dest.part" "$dest"
    log "$name $version: built in $(( $(now) - t0 )) s -> $dest ($(du -m "$dest" | cut -f1) MB)"
  fi
  flock -u "$lock"
  echo "$dest"
}

total0=$(now)
# The binaries are provided concurrently: a cold machine downloads or builds all four at once (the
# builds overlap their module downloads and link steps; measured on 2 cores: about 19 minutes for
# all four together, vault being the longest). Output keeps the order of the names.
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
pids=()
for n in "${names[@]}"; do
  ( t=$(now); path=$(provide "$n"); echo "$path" > "$out/$n"; log "$n ready ($(( $(now) - t )) s)" ) &
  pids+=($!)
done
failed=0
for i in "${!names[@]}"; do
  wait "${pids[$i]}" || { failed=1; echo "tools: error: ${names[$i]} is not available (see above)" >&2; }
done
[ $failed = 0 ] || exit 1
for n in "${names[@]}"; do
  path=$(cat "$out/$n")
  upper=$(echo "$n" | tr '[:lower:]' '[:upper:]')
  if [ $print_env = 1 ]; then echo "export STACKLY_${upper}_BIN='$path'"; else echo "$n=$path"; fi
done
log "all ready in $(( $(now) - total0 )) s"
