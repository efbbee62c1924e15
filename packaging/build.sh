#!/usr/bin/env bash
# Build the one-folder app packaging/dist/segment-gui with PyInstaller, then
# start it once offscreen as a smoke check.
#
# Environment:
#   PYTHON         interpreter to build with. Its environment gets the project
#                  and PyInstaller installed into it. Unset: a fresh venv is
#                  made in packaging/build/packaging-venv from python3.
#   SMOKE_TIMEOUT  seconds the smoke check may run before it fails (default 60).
set -euo pipefail

PACKAGING_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(dirname "$PACKAGING_DIR")"
BUILD_DIR="$PACKAGING_DIR/build"
DIST_DIR="$PACKAGING_DIR/dist"
APP_DIR="$DIST_DIR/segment-gui"
APP_ID="io.github.segment_gui.SegmentGui"
SMOKE_TIMEOUT="${SMOKE_TIMEOUT:-60}"

fail() {
    echo "build.sh: $*" >&2
    exit 1
}

# segment-gui.spec sets strip=True, and PyInstaller then needs binutils' strip.
command -v strip >/dev/null || fail "strip not found; install binutils (Debian package binutils)"

start_seconds=$SECONDS

# --- Python environment ---------------------------------------------------
if [[ -n "${PYTHON:-}" ]]; then
    python="$PYTHON"
else
    venv_dir="$BUILD_DIR/packaging-venv"
    echo "==> Creating a fresh venv in $venv_dir"
    python3 -m venv --clear "$venv_dir"
    python="$venv_dir/bin/python"
fi

echo "==> Installing segment-gui and PyInstaller with $python"
# The "packaging" extra in pyproject.toml sets the minimum PyInstaller version.
"$python" -m pip install --quiet --disable-pip-version-check "${REPO_ROOT}[packaging]"

expected_version="$(cd "$REPO_ROOT" && "$python" -c 'import segment_gui; print(segment_gui.__version__)')"
echo "==> Version in segment_gui/__init__.py: $expected_version"

# --- PyInstaller ----------------------------------------------------------
echo "==> Running PyInstaller"
(
    cd "$PACKAGING_DIR"
    "$python" -m PyInstaller --noconfirm \
        --distpath "$DIST_DIR" \
        --workpath "$BUILD_DIR" \
        "$PACKAGING_DIR/segment-gui.spec"
)
[[ -x "$APP_DIR/segment-gui" ]] || fail "PyInstaller finished but $APP_DIR/segment-gui is missing"
build_seconds=$((SECONDS - start_seconds))

# --- Libraries of the X11 platform plugin ---------------------------------
# PyInstaller bundles the plugin's xcb utility libraries only when this machine
# has them. The offscreen smoke check below does not load the plugin, so list
# what it would miss at run time. LD_LIBRARY_PATH points ldd at the bundled
# library folders, which the frozen app's dynamic loader searches too.
xcb_plugin="$APP_DIR/_internal/PySide6/Qt/plugins/platforms/libqxcb.so"
if [[ -f "$xcb_plugin" ]]; then
    missing_libs="$(LD_LIBRARY_PATH="$APP_DIR/_internal:$APP_DIR/_internal/PySide6/Qt/lib" \
        ldd "$xcb_plugin" | awk '/not found/ {print $1}')"
    if [[ -n "$missing_libs" ]]; then
        echo "==> WARNING: the xcb (X11) platform plugin needs libraries that are neither" \
            "bundled nor installed here:" $missing_libs >&2
        echo "    On X11 the app starts only where the user's system has them." \
            "See 'X11 libraries' in packaging/README.md." >&2
    fi
fi

# --- Desktop integration files -------------------------------------------
# Lay them out as under ~/.local/share, so installing is one copy (see README.md).
# resources/segment-gui.svg stays the only copy of the icon in the repository.
share_dir="$DIST_DIR/share"
rm -rf "$share_dir"
install -D -m 644 "$PACKAGING_DIR/linux/$APP_ID.desktop" "$share_dir/applications/$APP_ID.desktop"
install -D -m 644 "$PACKAGING_DIR/linux/$APP_ID.metainfo.xml" "$share_dir/metainfo/$APP_ID.metainfo.xml"
install -D -m 644 "$REPO_ROOT/resources/segment-gui.svg" "$share_dir/icons/hicolor/scalable/apps/$APP_ID.svg"

if command -v desktop-file-validate >/dev/null; then
    desktop-file-validate "$share_dir/applications/$APP_ID.desktop" \
        || fail "desktop-file-validate rejected $APP_ID.desktop"
else
    echo "==> desktop-file-validate not found (Debian package desktop-file-utils), skipping"
fi
if command -v appstreamcli >/dev/null; then
    appstreamcli validate --no-net "$share_dir/metainfo/$APP_ID.metainfo.xml" \
        || fail "appstreamcli rejected $APP_ID.metainfo.xml"
else
    echo "==> appstreamcli not found (Debian package appstream), skipping"
fi

# --- Smoke check ----------------------------------------------------------
# With --smoke-test the frozen app opens its main window on the offscreen Qt
# platform and exits after the first paint. SEGMENT_GUI_HOME points at an empty
# folder so the check neither reads nor writes the user's settings.
smoke_home="$(mktemp -d)"
trap 'rm -rf "$smoke_home"' EXIT

echo "==> Smoke check: segment-gui --version"
version_output="$(SEGMENT_GUI_HOME="$smoke_home" "$APP_DIR/segment-gui" --version 2>&1)" \
    || fail "segment-gui --version exited with status $?: $version_output"
[[ "$version_output" == *"$expected_version"* ]] \
    || fail "segment-gui --version printed '$version_output', expected it to contain $expected_version"
echo "$version_output"

echo "==> Smoke check: segment-gui --smoke-test (timeout ${SMOKE_TIMEOUT}s)"
smoke_status=0
smoke_output="$(QT_QPA_PLATFORM=offscreen SEGMENT_GUI_HOME="$smoke_home" \
    timeout "$SMOKE_TIMEOUT" "$APP_DIR/segment-gui" --smoke-test 2>&1)" || smoke_status=$?
echo "$smoke_output"
if ((smoke_status == 124)); then
    fail "segment-gui --smoke-test timed out after ${SMOKE_TIMEOUT}s"
elif ((smoke_status != 0)); then
    fail "segment-gui --smoke-test exited with status $smoke_status"
fi
grep -qxF "smoke ok $expected_version" <<<"$smoke_output" \
    || fail "segment-gui --smoke-test output has no line 'smoke ok $expected_version'"

# --- Summary --------------------------------------------------------------
echo "==> Built $APP_DIR in ${build_seconds}s (venv, install and PyInstaller)"
echo "==> Folder size: $(du -sh "$APP_DIR" | cut -f1)"
echo "==> Smoke check passed"
