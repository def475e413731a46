/*
 * conn: one client connection, as an explicit state machine over
 * bufferevents (see the enum conn_state in conn.c for the transitions):
 * read a request head, decide (ACL, quell's own pages, the request policy),
 * connect upstream, stream the request body up and the response body down
 * through the body chain, then keep-alive or close; CONNECT and Upgrade
 * become tunnels.  The client side may be plain TCP or TLS (an intercepted
 * CONNECT, scheme https): the pipeline is the same.
 */
#ifndef QUELL_CONN_H
#define QUELL_CONN_H

#include <event2/util.h>
#include <sys/socket.h>

struct worker;
struct conn;
struct tls;

/* A worker's connections (the worker owns the struct, conn.c the links). */
struct conn_list {
	struct conn *head;
	int count;
};

/* Takes ownership of fd (a just-accepted client socket), links the new
 * connection into list and starts reading.  Returns the connection, or NULL
 * (fd closed) on ENOMEM. */
struct conn *conn_accept(struct worker *w, struct conn_list *list, evutil_socket_t fd,
                         const struct sockaddr *client, socklen_t client_len);

/* Turns HTTPS interception on (certs/tls.h): CONNECTs not bypassed are
 * answered, and a ClientHello is terminated with a leaf for the host.  Call
 * once before the workers start; NULL leaves every CONNECT a blind tunnel. */
void conn_set_tls(struct tls *t);

/* Graceful stop of every connection in list: the idle ones close now, the
 * others after their current response. */
void conn_stop_all(struct conn_list *list);
/* Closes every connection in list now (end of the grace period). */
void conn_free_all(struct conn_list *list);

#endif
