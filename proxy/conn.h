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

/* Takes ownership of fd (a just-accepted client socket) and starts reading.
 * local is the listening address it arrived on.  Returns the connection or
 * NULL (fd closed) on ENOMEM. */
struct conn *conn_accept(struct worker *w, evutil_socket_t fd,
                         const struct sockaddr *client, socklen_t client_len);

/* Graceful stop: closes the connection now when it is idle (between
 * requests), otherwise marks it to close after the current response. */
void conn_stop(struct conn *c);
/* Closes the connection now, whatever it is doing (end of the grace). */
void conn_free(struct conn *c);

#endif
