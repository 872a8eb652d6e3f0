# Sourced by .ci/run: installs (apt-get, if missing) and starts the services the tests use, and exports
# their URLs. Tests that need a service fail under CI=true when its URL is missing, and skip elsewhere.
set -euo pipefail

_apt() {
  if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi
}

# PostgreSQL: the sql source is tested against a real server
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  _apt update -qq && DEBIAN_FRONTEND=noninteractive _apt install -y -qq postgresql >/dev/null
fi
PG_VERSION="$(ls /usr/lib/postgresql | sort -n | tail -1)"
if ! pg_lsclusters -h | grep -q "^$PG_VERSION main"; then
  pg_createcluster "$PG_VERSION" main >/dev/null
fi
pg_ctlcluster "$PG_VERSION" main start 2>/dev/null || true
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 && break
  sleep 1
done
runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -d postgres -c \
  "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aiforge') THEN
     CREATE ROLE aiforge LOGIN PASSWORD 'aiforge' CREATEDB; END IF; END \$\$;" 2>/dev/null \
  || runuser -u postgres -- psql -q -v ON_ERROR_STOP=1 -d postgres -c \
  "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'aiforge') THEN
     CREATE ROLE aiforge LOGIN PASSWORD 'aiforge' CREATEDB; END IF; END \$\$;"
runuser -u postgres -- psql -q -d postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'aiforge_test'" \
  | grep -q 1 || runuser -u postgres -- createdb -O aiforge aiforge_test
# a throwaway server: no fsync. The suite runs on it (tests/postgres_site): a database per workspace, dropped at the
# end, and DROP DATABASE forces a checkpoint (seconds each with fsync on a busy disk, ~0.1 s without)
runuser -u postgres -- psql -q -d postgres -c "ALTER SYSTEM SET fsync = off" -c "ALTER SYSTEM SET full_page_writes = off" \
  -c "ALTER SYSTEM SET synchronous_commit = off" -c "SELECT pg_reload_conf()" >/dev/null
export AIFORGE_TEST_POSTGRES_URL="postgresql+psycopg://aiforge:aiforge@127.0.0.1:5432/aiforge_test"

# redis-server: the redis (stream) source is tested against a real server, which the tests start themselves
if ! command -v redis-server >/dev/null 2>&1; then
  _apt update -qq && DEBIAN_FRONTEND=noninteractive _apt install -y -qq redis-server >/dev/null
fi

# chromium: the dashboard is clicked through by Playwright in Debian's Chromium (never 'playwright install')
if ! command -v chromium >/dev/null 2>&1; then
  _apt update -qq && DEBIAN_FRONTEND=noninteractive _apt install -y -qq chromium >/dev/null
fi

# Fashion-MNIST: the vision example and its test read Debian's dataset-fashion-mnist (IDX files, no download at
# test time); tests/serve/test_images.py fails under CI=true without it
if [ ! -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ]; then
  _apt update -qq && DEBIAN_FRONTEND=noninteractive _apt install -y -qq dataset-fashion-mnist >/dev/null
fi
