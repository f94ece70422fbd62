// rabbitmq-c 0.11 (Debian 12's librabbitmq-dev): flat headers. Only the AMQP adapter imports this module.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

// amqp_login_with_properties is variadic and does not import into Swift: this fixed-arity
// wrapper covers PLAIN authentication, the only SASL method the relay uses. It adds two
// client properties to rabbitmq-c's own (which it merges in):
// - connection_name, which `rabbitmqctl list_connections` and the management UI show;
// - the connection.blocked capability, without which the broker blocks a publisher during a
//   memory or disk alarm without saying so (rabbitmq-c 0.11 does not announce it).
static inline amqp_rpc_reply_t sse_relay_amqp_login_plain(
    amqp_connection_state_t state, const char *vhost, int channel_max, int frame_max,
    int heartbeat, const char *user, const char *password, const char *connection_name) {
    amqp_table_entry_t capability;
    capability.key = amqp_cstring_bytes("connection.blocked");
    capability.value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability.value.value.boolean = 1;

    amqp_table_entry_t properties[2];
    properties[0].key = amqp_cstring_bytes("capabilities");
    properties[0].value.kind = AMQP_FIELD_KIND_TABLE;
    properties[0].value.value.table.num_entries = 1;
    properties[0].value.value.table.entries = &capability;
    properties[1].key = amqp_cstring_bytes("connection_name");
    properties[1].value.kind = AMQP_FIELD_KIND_UTF8;
    properties[1].value.value.bytes = amqp_cstring_bytes(connection_name);

    amqp_table_t table;
    table.num_entries = 2;
    table.entries = properties;
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat, &table,
                                      AMQP_SASL_METHOD_PLAIN, user, password);
}
