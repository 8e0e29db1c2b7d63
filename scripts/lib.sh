# Shared helpers for scripts/*. Source it; do not run it.
ensure_swift_on_path() {
  if ! command -v swift >/dev/null 2>&1; then
    for d in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
      [ -x "$d/swift" ] && export PATH="$d:$PATH"
    done
  fi
}
