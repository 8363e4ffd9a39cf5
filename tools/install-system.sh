#!/usr/bin/env bash
# Debian packages the test suite drives for real: pdflatex (LaTeX reports),
# headless Chromium (HTML report screenshots). Installs what is missing when run
# as root with apt; otherwise says what is missing (those tests then skip, or
# fail under UMIX_REQUIRE_TOOLS=1, as CI sets).
set -euo pipefail
PKGS=(texlive-latex-base texlive-latex-recommended chromium fonts-dejavu-core)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[install-system] installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[install-system] not installed (need root and apt): ${missing[*]}" >&2
fi
