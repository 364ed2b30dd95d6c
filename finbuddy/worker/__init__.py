"""Phase 2's background jobs: the daily insights as messages on RabbitMQ, written by `finbuddy worker` processes.

The only package that imports dramatiq and pika (and redis, for the global rate). With `queue.url` set, the
daemon's daily job only plans (`planner`): it marks the users due in the database and enqueues them in chunks.
Worker processes (`processes`) consume the chunks with Dramatiq and call `write_insight` per user (`chunks`),
each call starting in a slot of one global rate shared through Redis (`rate`). The database claim stays the
source of truth: a message delivered twice, or a worker killed mid-chunk, costs at most the calls in flight.

- `config`: what a queue needs (queue.url, cache.url, the `scale` extra) and the names derived from queue.name;
- `rate`: the global rate, evenly spaced start slots handed out by a Redis script;
- `broker`: Dramatiq's RabbitMQ broker, publishing chunks, and the queue's depth for `daemon status`;
- `planner`: the daily job with a queue;
- `chunks`: what a worker does with one message;
- `processes`: `finbuddy worker`: forked children, each a Dramatiq worker, stopped by SIGTERM.
"""
