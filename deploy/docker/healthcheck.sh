#!/bin/bash
# Docker HEALTHCHECK of the courier image: GET /healthz on the HTTP port of the service that PID 1
# runs (`courier asgardian|iris|hermes`), with bash's /dev/tcp so the image needs no curl. The port
# is <SERVICE>_HTTP_PORT when set, else the service's default. Exit 0 healthy, 1 not.
# COURIER_HEALTHCHECK_PID names another process than PID 1 (for tests outside a container).
set -euo pipefail

mapfile -d '' -t argv <"/proc/${COURIER_HEALTHCHECK_PID:-1}/cmdline"
service="${argv[1]:-}"
case "$service" in
  asgardian) default=8081 ;;
  iris) default=8082 ;;
  hermes) default=8083 ;;
  *) echo "healthcheck: PID 1 runs no Courier service (${argv[*]})" >&2; exit 1 ;;
esac
variable="${service^^}_HTTP_PORT"
port="${!variable:-$default}"

exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "healthcheck: $service: nothing listens on $port" >&2; exit 1; }
printf 'GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 _ status _ <&3 || status=none
exec 3<&-
if [[ "$status" != 200 ]]; then
  echo "healthcheck: $service: /healthz answered $status" >&2
  exit 1
fi
