#!/usr/bin/env bash
# Run the whole test suite from a fresh clone. It installs the Debian packages Qt and the keyring
# need and makes a virtual environment with the package and its test extras. It then runs ruff,
# mypy and pytest, the last inside a private D-Bus session with an unlocked gnome-keyring and
# offscreen Qt.
# Extra arguments go to pytest, e.g. `bash tests/run.sh -k payload`.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
    gnome-keyring dbus dbus-daemon libsecret-1-0
    libegl1 libgl1 libopengl0 libxkbcommon0 libfontconfig1 libfreetype6 libglib2.0-0
    libdbus-1-3 fonts-dejavu-core
)
missing=()
for package in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
fi

venv="${SEGMENT_GUI_VENV:-.venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[test]"

"$venv/bin/ruff" check segment_gui tests docs benchmarks
"$venv/bin/mypy" segment_gui

export QT_QPA_PLATFORM=offscreen
export VENV_PYTHON="$venv/bin/python"
# A throwaway keyring folder, so tests never touch the user's own keyrings.
XDG_DATA_HOME="$(mktemp -d)"
export XDG_DATA_HOME
exec dbus-run-session -- bash -c '
    eval "$(printf "segment-gui-tests" | gnome-keyring-daemon --unlock --components=secrets)"
    export GNOME_KEYRING_CONTROL
    exec "$VENV_PYTHON" -m pytest "$@"
' bash "$@"
