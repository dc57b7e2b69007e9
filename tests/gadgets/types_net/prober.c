// SPDX-License-Identifier: Apache-2.0
/*
 * The process the types_net test watches: built with cc at test time (frame
 * pointers, symbols kept), run as "rigtypesprobe PORT4 PORT6". It connects to
 * 127.0.0.1:PORT4 and [::1]:PORT6 from rig_probe_outer() → rig_probe_inner()
 * (two frames, so the outer one is on the frame-pointer stack whatever the
 * libc wrapper does), then stays alive a moment so its stack can be
 * symbolised from /proc/PID/maps.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

__attribute__((noinline)) int rig_probe_inner(int family, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, rc;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0)
		return 1;
	rc = connect(fd, (struct sockaddr *)&ss, len);
	close(fd);
	return rc != 0;
}

__attribute__((noinline)) int rig_probe_outer(int family, int port)
{
	int rc = rig_probe_inner(family, port);
	__asm__ volatile("" ::: "memory"); /* keep this frame: no tail call */
	return rc;
}

int main(int argc, char **argv)
{
	int rc = 0;

	if (argc != 3)
		return 2;
	rc |= rig_probe_outer(AF_INET, atoi(argv[1]));
	rc |= rig_probe_outer(AF_INET6, atoi(argv[2]));
	sleep(2);
	return rc;
}
