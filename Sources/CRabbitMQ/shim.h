// rabbitmq-c 0.11 (Debian 12's librabbitmq-dev): flat headers. Only the AMQP adapter imports this module.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

// amqp_login is variadic and does not import into Swift: this fixed-arity wrapper covers
// PLAIN authentication, the only SASL method the relay uses.
static inline amqp_rpc_reply_t sse_relay_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat, const char *user, const char *password) {
    return amqp_login(state, vhost, channel_max, frame_max, heartbeat,
                      AMQP_SASL_METHOD_PLAIN, user, password);
}
