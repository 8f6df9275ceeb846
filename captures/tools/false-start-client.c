/* A TLS 1.2 client with False Start enabled (GnuTLS), for the compliance
 * matrix: it sends its request right after its own Finished, before the
 * server's ChangeCipherSpec and Finished arrive.
 *
 *   cc -o false-start-client false-start-client.c -lgnutls
 *   ./false-start-client 127.0.0.1 4463 tlsaudit.test
 *
 * Connects only where it is told (the capture script uses loopback). */
#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fail(const char *what, int code) {
    fprintf(stderr, "false-start-client: %s: %s\n", what, code < 0 ? gnutls_strerror(code) : "failed");
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s IPV4 PORT SERVER_NAME\n", argv[0]);
        return 2;
    }
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1)
        return fail("address", 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return fail("connect", 0);

    gnutls_certificate_credentials_t creds;
    gnutls_session_t session;
    int rc;
    if ((rc = gnutls_certificate_allocate_credentials(&creds)) < 0)
        return fail("credentials", rc);
    if ((rc = gnutls_init(&session, GNUTLS_CLIENT | GNUTLS_ENABLE_FALSE_START)) < 0)
        return fail("init", rc);
    if ((rc = gnutls_priority_set_direct(session, "NORMAL:-VERS-ALL:+VERS-TLS1.2", NULL)) < 0)
        return fail("priority", rc);
    gnutls_credentials_set(session, GNUTLS_CRD_CERTIFICATE, creds);
    gnutls_server_name_set(session, GNUTLS_NAME_DNS, argv[3], strlen(argv[3]));
    gnutls_transport_set_int(session, fd);
    do {
        rc = gnutls_handshake(session);
    } while (rc < 0 && !gnutls_error_is_fatal(rc));
    if (rc < 0)
        return fail("handshake", rc);
    if (!(gnutls_session_get_flags(session) & GNUTLS_SFLAGS_FALSE_START))
        return fail("False Start was not used for this handshake", 0);

    const char request[] = "GET / HTTP/1.0\r\n\r\n";
    if ((rc = gnutls_record_send(session, request, sizeof request - 1)) < 0)
        return fail("send", rc);
    char buf[4096];
    while ((rc = gnutls_record_recv(session, buf, sizeof buf)) > 0)
        ;
    gnutls_bye(session, GNUTLS_SHUT_WR);
    gnutls_deinit(session);
    gnutls_certificate_free_credentials(creds);
    close(fd);
    return 0;
}
