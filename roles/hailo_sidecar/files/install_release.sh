#!/bin/sh
# Puts a release in its place from the archive upload.yml copied beside it: unpacks <release>.tar.gz into
# <release>.part, checks that against its SHA256SUMS, renames it to <release>. A release name on the host so
# always holds a whole, verified bundle. The archive goes either way, a copy that fails its check goes too, and
# the reason is printed (exit 1). argv: the releases folder, the release.
set -u
cd "$1" || exit 1
release=$2
rm -rf "$release.part"
if problem=$(mkdir "$release.part" && tar --extract --gzip --file "$release.tar.gz" --directory "$release.part" 2>&1) \
  && problem=$(cd "$release.part" && sha256sum --check --quiet --strict SHA256SUMS 2>&1) \
  && problem=$(mv -T "$release.part" "$release" 2>&1); then
  rm -f "$release.tar.gz"
  exit 0
fi
rm -rf "$release.part" "$release.tar.gz"
echo "$problem" >&2
exit 1
