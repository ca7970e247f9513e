#!/bin/sh
# Release bundles on the host, checked the same way wherever they come from: SHA256SUMS.sig must be a good
# signature over SHA256SUMS by a key the allowed-signers file lists (when one is given: ssh-keygen -Y verify,
# namespace hailo-fleet-release, as hailo-pipeline verify --allowed-signers checks it), then every file must match
# SHA256SUMS. Prints the reason and exits 1 otherwise.
#   releases.sh install FOLDER SIGNERS RELEASE      unpacks FOLDER/RELEASE.tar.gz (upload.yml copied it) into
#       RELEASE.part, checks it, renames it to RELEASE: a release name on the host so always holds a whole, verified
#       bundle. The archive goes either way, a copy that fails its check goes too.
#   releases.sh check FOLDER SIGNERS RELEASE...     checks releases already on the host, before they are served.
# SIGNERS: the allowed-signers file, or "" when signatures are not required.
set -u
NAMESPACE=hailo-fleet-release

# check_bundle DIR SIGNERS: silent when DIR is good, else the reason on stdout (exit 1)
check_bundle() {
  (
    cd "$1" 2>&1 || exit 1
    if [ -n "$2" ]; then
      [ -f SHA256SUMS.sig ] || { echo "not signed (no SHA256SUMS.sig) and signatures are required on this host"; exit 1; }
      if ! principal=$(ssh-keygen -Y find-principals -s SHA256SUMS.sig -f "$2" 2>/dev/null | head -n 1) || [ -z "$principal" ]; then
        key=$(ssh-keygen -Y check-novalidate -n "$NAMESPACE" -s SHA256SUMS.sig < SHA256SUMS 2>/dev/null | sed -n 's/.* with //p')
        echo "signed by ${key:-a key whose signature does not match SHA256SUMS}, which $2 does not list: an unknown signer"
        exit 1
      fi
      ssh-keygen -Y verify -f "$2" -I "$principal" -n "$NAMESPACE" -s SHA256SUMS.sig < SHA256SUMS >/dev/null 2>&1 \
        || { echo "the signature by $principal does not verify: SHA256SUMS changed after signing"; exit 1; }
    fi
    sha256sum --check --quiet --strict SHA256SUMS 2>&1
  )
}

# place RELEASE: RELEASE.part becomes RELEASE. A RELEASE already here is a copy from before signatures were
# required (upload.yml sends only those again): the same bundle, so only the signature joins it.
place() {
  if [ ! -d "$1" ]; then
    mv -T "$1.part" "$1"
  elif cmp -s "$1.part/SHA256SUMS" "$1/SHA256SUMS"; then
    mv "$1.part/SHA256SUMS.sig" "$1/SHA256SUMS.sig"
  else
    echo "$1 on this host is another bundle under the same name (its SHA256SUMS differs): remove $folder/$1 there and deploy again"
    return 1
  fi
}

command=$1 folder=$2 signers=$3
shift 3
cd "$folder" || exit 1
case $command in
  install)
    release=$1
    rm -rf "$release.part"
    if problem=$(mkdir "$release.part" && tar --extract --gzip --file "$release.tar.gz" --directory "$release.part" 2>&1) \
      && problem=$(check_bundle "$release.part" "$signers") \
      && problem=$(place "$release" 2>&1); then
      rm -rf "$release.part" "$release.tar.gz"
      exit 0
    fi
    rm -rf "$release.part" "$release.tar.gz"
    echo "$problem" >&2
    exit 1
    ;;
  check)
    status=0
    for release; do
      if [ ! -d "$release" ]; then
        echo "$release: not on this host (in $folder)" >&2
        status=1
      elif ! problem=$(check_bundle "$release" "$signers"); then
        echo "$release: $problem" >&2
        status=1
      fi
    done
    exit $status
    ;;
  *)
    echo "usage: releases.sh install|check FOLDER SIGNERS RELEASE..." >&2
    exit 2
    ;;
esac
