/// The Lua the relay runs in Redis. Each does in one round trip what would otherwise take
/// several, and atomically (a script runs alone), which is what keeps ids, history and
/// routes consistent with each other.
///
/// Keys (all under the configured prefix P):
/// - `P epoch`              the history's epoch (ms when first used); ids are `epoch-seq`
/// - `P seq`                the one sequence for every stream
/// - `P clock`              stream of `(seq+1)-0 → t=ms` checkpoints, at most one per second,
///                          to tell how old a cursor is
/// - `P history:c:ID`, `P history:t:NAME`   capped streams of frames (`seq-0 → f=frame`),
///                          expiring `history age` after their last event
/// - `P client:ID`, `P topic:NAME`  hash node id → that node's start epoch, expiring unless
///                          the holding node's heartbeat refreshes it
/// - `P node:ID`            hash describing a live node (started, address, queue, version,
///                          connections), expiring unless heartbeats refresh it
/// - `P nodes`              set of node ids ever seen (entries whose node key is gone are dead)
enum RedisScripts {
    /// ARGV: prefix, this node, history size, history age ms, now ms, clock length, then per
    /// event: kind (`c`/`t`), target name, frame body (the frame without its `id:` line).
    /// Returns `{epoch, {seq, {node...}}...}`: the id of each event and the other live
    /// nodes holding its target. Routes whose node is gone or restarted (start epoch
    /// differs) are deleted on the way.
    ///
    /// Registry and history content is not trusted: a route or history key of the wrong type
    /// is deleted (the holders' heartbeats rebuild routes; history restarts) and a node hash
    /// of the wrong type counts as a dead node, each with a warning in Redis's own log, so
    /// one bad key cannot stop publishing. A corrupt `epoch` or `seq` does fail the call:
    /// ids cannot be made up.
    static let publish = """
        local prefix, self = ARGV[1], ARGV[2]
        local size, age, now, clockLength = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local epoch = redis.call('GET', prefix .. 'epoch')
        if not epoch then
          redis.call('SET', prefix .. 'epoch', ARGV[5], 'NX')
          epoch = redis.call('GET', prefix .. 'epoch')
          redis.call('XADD', prefix .. 'clock', '1-0', 't', now)
        end
        -- One INCRBY for the whole call: its events get consecutive ids.
        local count = (#ARGV - 6) / 3
        local first = redis.call('INCRBY', prefix .. 'seq', count) - count + 1
        if redis.call('SET', prefix .. 'clock:mark', '1', 'PX', 1000, 'NX') then
          redis.call('XADD', prefix .. 'clock', 'MAXLEN', '~', clockLength, (first + 1) .. '-0', 't', now)
        end
        local started, routes = {}, {}
        local function live(node, epochOfEntry)
          local known = started[node]
          if known == nil then
            known = redis.pcall('HGET', prefix .. 'node:' .. node, 'started')
            if type(known) ~= 'string' then known = false end
            started[node] = known
          end
          return known == epochOfEntry
        end
        local function route(kind, name)
          local key = prefix .. (kind == 'c' and 'client:' or 'topic:') .. name
          local nodes = routes[key]
          if nodes then return nodes end
          nodes = {}
          local entries = redis.pcall('HGETALL', key)
          if entries.err then
            redis.log(redis.LOG_WARNING, 'sse-relay: deleting malformed route key ' .. key .. ': ' .. entries.err)
            redis.call('DEL', key)
            entries = {}
          end
          for j = 1, #entries, 2 do
            local node, epochOfEntry = entries[j], entries[j + 1]
            if node ~= self then
              if live(node, epochOfEntry) then
                table.insert(nodes, node)
              else
                redis.call('HDEL', key, node)
              end
            end
          end
          routes[key] = nodes
          return nodes
        end
        local out = {epoch}
        for k = 0, count - 1 do
          local i = 7 + 3 * k
          local kind, name, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
          local seq = first + k
          if size > 0 then
            local key = prefix .. 'history:' .. kind .. ':' .. name
            local frame = 'id: ' .. epoch .. '-' .. seq .. '\\n' .. body
            local added = redis.pcall('XADD', key, 'MAXLEN', size, seq .. '-0', 'f', frame)
            if type(added) == 'table' and added.err then
              -- Not a stream, or one holding ids from elsewhere: start it again.
              redis.log(redis.LOG_WARNING, 'sse-relay: replacing malformed history key ' .. key .. ': ' .. added.err)
              redis.call('DEL', key)
              redis.call('XADD', key, 'MAXLEN', size, seq .. '-0', 'f', frame)
            end
            redis.call('PEXPIRE', key, age)
          end
          table.insert(out, {seq, route(kind, name)})
        end
        return out
        """

    /// ARGV: prefix, cursor sequence (-1: none), history age ms, now ms, then stream names
    /// (`c:ID`, `t:NAME`). Returns `{epoch, head, reset reason or '', {seq, frame, ...}}`;
    /// starts the history (its epoch) when there is none yet.
    /// A cursor is honoured only when its age is provably within the window (a clock
    /// checkpoint at or before it is young enough) and no stream that dropped entries
    /// starts after it.
    static let replay = """
        local prefix, cursor, age, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
        local epoch = redis.call('GET', prefix .. 'epoch')
        if not epoch then
          -- The first stream of a new history fixes its epoch, so its cursor stays valid.
          redis.call('SET', prefix .. 'epoch', ARGV[4], 'NX')
          epoch = redis.call('GET', prefix .. 'epoch')
          redis.call('XADD', prefix .. 'clock', '1-0', 't', now)
        end
        local head = tonumber(redis.call('GET', prefix .. 'seq') or '0')
        if cursor < 0 then return {epoch, head, '', {}} end
        if cursor > head then return {epoch, head, 'unknown_cursor', {}} end
        if cursor < head then
          local mark = redis.call('XREVRANGE', prefix .. 'clock', (cursor + 1) .. '-0', '-', 'COUNT', 1)
          if #mark == 0 or now - tonumber(mark[1][2][2]) > age then
            return {epoch, head, 'cursor_too_old', {}}
          end
        end
        local frames = {}
        for i = 5, #ARGV do
          local key = prefix .. 'history:' .. ARGV[i]
          -- Only streams are history; a key of another type is garbage and ignored.
          if redis.call('TYPE', key)['ok'] == 'stream' then
            -- A capped stream that has dropped entries cannot prove it kept everything
            -- after a cursor older than its oldest entry.
            local info = redis.call('XINFO', 'STREAM', key)
            local fields = {}
            for j = 1, #info, 2 do fields[info[j]] = info[j + 1] end
            local oldest = tonumber(string.match(fields['first-entry'][1], '^%d+'))
            if fields['entries-added'] > fields['length'] and cursor + 1 < oldest then
              return {epoch, head, 'cursor_too_old', {}}
            end
            local entries = redis.call('XRANGE', key, '(' .. cursor .. '-0', '+')
            for _, entry in ipairs(entries) do
              table.insert(frames, string.match(entry[1], '^%d+'))
              table.insert(frames, entry[2][2])
            end
          end
        end
        return {epoch, head, '', frames}
        """
}
