/*
 * tunnel: a blind two-way byte relay between a client and an origin, for
 * CONNECT and for a protocol switch after 101 (websocket).  Each direction
 * buffers at most `buffer` bytes: above it the reading side pauses until the
 * writing side drains (watermarks), so a slow side never grows memory.
 * The tunnel ends when either side closes or errors (after flushing what the
 * other side sent), or after io_timeout without traffic either way.
 */
#ifndef QUELL_TUNNEL_H
#define QUELL_TUNNEL_H

#include <stddef.h>
#include <stdint.h>

struct bufferevent;
struct tunnel;

/* Called once when the tunnel ended, with the byte counts client->origin
 * (up) and origin->client (down).  The tunnel is freed right after. */
typedef void (*tunnel_done_cb)(uint64_t up, uint64_t down, const char *why, void *arg);

/* Takes ownership of both bufferevents (frees them at the end); bytes already
 * in their input buffers are relayed first.  Returns the tunnel, or NULL on
 * ENOMEM (then the bufferevents are still the caller's). */
struct tunnel *tunnel_start(struct bufferevent *client, struct bufferevent *origin,
                            size_t buffer, long io_timeout_ms,
                            tunnel_done_cb done, void *arg);
/* Ends a tunnel now without calling done (shutdown).  NULL is a no-op. */
void tunnel_free(struct tunnel *t);

#endif
