/*
 * sockio: reading a plain socket bufferevent in large pieces.
 *
 * libevent 2.1 reads at most 4 KiB per call on a socket (EVBUFFER_MAX_READ
 * in buffer.c), so a fast peer costs a loop pass, a read and often a write
 * per 4 KiB.  sockio_slurp() reads what the socket has, up to a bound,
 * straight into the bufferevent's input.  Used by conn.c (bodies) and
 * tunnel.c.  Not for TLS bufferevents (OpenSSL reads the socket itself).
 *
 * Writing has the opposite problem: a bufferevent writes only when the
 * loop next reports the socket writable, so every message costs arming
 * EV_WRITE (epoll_ctl), a loop pass and disarming it again (epoll_ctl).
 * sockio_push() writes what the output holds now, from the caller's
 * callback, for plain sockets and for TLS bufferevents over a socket.
 */
#ifndef QUELL_SOCKIO_H
#define QUELL_SOCKIO_H

#include <stddef.h>
#include <sys/types.h>

struct bufferevent;

/* Reads up to room bytes from bev's socket into its input buffer (whose end
 * a bufferevent keeps frozen: it is thawed around the read, as libevent does
 * around its own).  Returns the bytes read, 0 when there was nothing (or no
 * room; EOF included: libevent reports it on its next read, since an EOF
 * stays readable), or -1 on a socket error (errno set): an error is reported
 * once by the kernel, so the caller must act on it now. */
ssize_t sockio_slurp(struct bufferevent *bev, size_t room);

/* Sends what bev's output holds now instead of waiting for a write event.
 * bev: a socket bufferevent, or a bufferevent_openssl over a socket (not
 * a filter over another bufferevent) whose handshake is complete; any
 * other kind is only enabled for writing, as libevent would do.  A TLS
 * output is first joined into one piece of up to SOCKIO_RECORD bytes, so a
 * response head and a short body go out as one record and one send()
 * (libevent makes one SSL_write, hence one record, per buffer chunk).
 * What the kernel does not take now is left to libevent (EV_WRITE armed,
 * its callback and timeout as usual; errors surface there too).  bev must
 * have BEV_OPT_DEFER_CALLBACKS: its callbacks may be due after the write,
 * and they must not run inside the caller. */
void sockio_push(struct bufferevent *bev);

#define SOCKIO_RECORD 16384     /* the largest TLS record's plaintext */

/* Sets how much bev reads and writes per call: up to max for a socket
 * bufferevent; for a TLS one, writes up to max but reads SOCKIO_RECORD
 * (libevent reserves the whole read size in the input before SSL_read,
 * which fills one record at most: a large size would cost a large
 * allocation, and often a heap trim, for every record). */
void sockio_set_io_max(struct bufferevent *bev, size_t max);

#endif
