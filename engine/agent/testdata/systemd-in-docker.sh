#!/bin/sh
# Boots a throwaway systemd in a Docker container so that TestSystemd_RealUnits
# can run on a machine without systemd as PID 1 (CI runners, containers).
# `make test` (.ci/test) runs it as root when docker answers; by hand:
#
#   eval "$(engine/agent/testdata/systemd-in-docker.sh start)"
#   go test ./engine/agent -run TestSystemd_RealUnits -v
#   engine/agent/testdata/systemd-in-docker.sh stop
#
# No image registry is needed: the image is an empty root (docker import) and
# the container runs this machine's own systemd from /usr, read-only, with a
# copy of /etc and a /run shared with the host (where the private socket
# appears). It boots only an empty target, has no network (--network none),
# its own cgroup namespace and a private cgroup tmpfs. Needs: root, docker,
# Debian's systemd package installed here (the binaries are used), nsenter
# (util-linux; the test joins the container's pid namespace because systemd
# refuses private-socket peers whose pid it cannot see).
set -eu
W=${HAVEN_SYSTEMD_WORK:-/tmp/haven-systemd-test}
NAME=${HAVEN_SYSTEMD_CONTAINER:-haven-systemd-test}
IMAGE=$NAME-root:local # per container: another run's stop must not remove it

case "${1:-}" in
start)
	[ -x /usr/lib/systemd/systemd ] || { echo "systemd is not installed here (apt-get install systemd)" >&2; exit 1; }
	docker rm -f "$NAME" >/dev/null 2>&1 || true
	rm -rf "$W"
	mkdir -p "$W/root" "$W/run"
	(
		cd "$W/root"
		mkdir -p etc var/tmp run tmp proc sys dev root usr home
		ln -s usr/bin bin; ln -s usr/sbin sbin; ln -s usr/lib lib; ln -s usr/lib64 lib64
	)
	tar -C "$W/root" -cf "$W/root.tar" .
	docker import "$W/root.tar" "$IMAGE" >/dev/null
	cp -a /etc "$W/etc"
	: > "$W/etc/machine-id"
	mkdir -p "$W/etc/systemd/system"
	printf '[Unit]\nDescription=haven test boot target\nDefaultDependencies=no\n' > "$W/etc/systemd/system/haven-test.target"
	docker run -d --name "$NAME" --cap-add SYS_ADMIN --security-opt seccomp=unconfined \
		--cgroupns=private --tmpfs /sys/fs/cgroup --network none \
		-v /usr:/usr:ro -v "$W/etc:/etc" -v "$W/run:/run" --tmpfs /tmp -e container=docker \
		"$IMAGE" /usr/lib/systemd/systemd --unit=haven-test.target >/dev/null
	i=0
	until [ -S "$W/run/systemd/private" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "systemd did not create its private socket within 20s; docker logs:" >&2
			docker logs "$NAME" >&2 || true
			exit 1
		fi
		sleep 0.2
	done
	echo "export HAVEN_SYSTEMD_PID=$(docker inspect -f '{{.State.Pid}}' "$NAME")"
	echo "export HAVEN_SYSTEMD_SOCKET=$W/run/systemd/private"
	echo "export HAVEN_SYSTEMD_UNIT_DIR=$W/etc/systemd/system"
	;;
stop)
	docker rm -f "$NAME" >/dev/null 2>&1 || true
	docker rmi "$IMAGE" >/dev/null 2>&1 || true
	rm -rf "$W"
	;;
*)
	echo "usage: $0 start|stop" >&2
	exit 2
	;;
esac
