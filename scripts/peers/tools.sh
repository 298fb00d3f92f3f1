#!/usr/bin/env bash
# Command-line tools the tests use as independent checkers: poppler's pdfinfo,
# pdftotext and pdfimages read the report PDFs Workvault writes (a real PDF reader,
# not our own parser). Installed with apt-get when missing; sourced by scripts/test.

peers_prepare_tools() {
  command -v pdfinfo >/dev/null && command -v pdftotext >/dev/null && command -v pdfimages >/dev/null && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "tools: poppler-utils (pdfinfo, pdftotext, pdfimages) is not installed and this user cannot apt-get install it" >&2
    return 1
  fi
  echo "tools: installing poppler-utils (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends poppler-utils >/dev/null
}
