// The RabbitMQ adapter: AMQPForwarder sends event batches to other nodes' queues with
// publisher confirms; AMQPConsumer delivers this node's queue to a handler. Each owns one
// rabbitmq-c connection on a thread of its own (see Internal/), never on an event loop or
// Swift's shared pool.
