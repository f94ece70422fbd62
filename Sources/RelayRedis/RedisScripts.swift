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
///                          expiring `history age` after their last event;
///                          `...:cut` = the newest sequence trimmed away by the cap
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
    static let publish = """
        local prefix, self = ARGV[1], ARGV[2]
        local size, age, now, clockLength = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
        local epoch = redis.call('GET', prefix .. 'epoch')
        if not epoch then
          redis.call('SET', prefix .. 'epoch', ARGV[5], 'NX')
          epoch = redis.call('GET', prefix .. 'epoch')
          redis.call('XADD', prefix .. 'clock', '1-0', 't', now)
        end
        local started = {}
        local function live(node, epochOfEntry)
          local known = started[node]
          if known == nil then
            known = redis.call('HGET', prefix .. 'node:' .. node, 'started') or false
            started[node] = known
          end
          return known == epochOfEntry
        end
        local out = {epoch}
        for i = 7, #ARGV, 3 do
          local kind, name, body = ARGV[i], ARGV[i + 1], ARGV[i + 2]
          local seq = redis.call('INCR', prefix .. 'seq')
          if redis.call('SET', prefix .. 'clock:mark', '1', 'PX', 1000, 'NX') then
            redis.call('XADD', prefix .. 'clock', 'MAXLEN', '~', clockLength, (seq + 1) .. '-0', 't', now)
          end
          if size > 0 then
            local key = prefix .. 'history:' .. kind .. ':' .. name
            redis.call('XADD', key, seq .. '-0', 'f', 'id: ' .. epoch .. '-' .. seq .. '\\n' .. body)
            local length = redis.call('XLEN', key)
            if length > size then
              local gone = redis.call('XRANGE', key, '-', '+', 'COUNT', length - size)
              redis.call('SET', key .. ':cut', string.match(gone[#gone][1], '^%d+'))
              redis.call('XTRIM', key, 'MAXLEN', size)
            end
            redis.call('PEXPIRE', key, age)
            redis.call('PEXPIRE', key .. ':cut', age)
          end
          local routesKey = prefix .. (kind == 'c' and 'client:' or 'topic:') .. name
          local entries = redis.call('HGETALL', routesKey)
          local nodes = {}
          for j = 1, #entries, 2 do
            local node, epochOfEntry = entries[j], entries[j + 1]
            if node ~= self then
              if live(node, epochOfEntry) then
                table.insert(nodes, node)
              else
                redis.call('HDEL', routesKey, node)
              end
            end
          end
          table.insert(out, {seq, nodes})
        end
        return out
        """

    /// ARGV: prefix, cursor sequence (-1: none), history age ms, now ms, then stream names
    /// (`c:ID`, `t:NAME`). Returns `{epoch, head, reset reason or '', {seq, frame, ...}}`;
    /// starts the history (its epoch) when there is none yet.
    /// A cursor is honoured only when its age is provably within the window (a clock
    /// checkpoint at or before it is young enough) and no stream was trimmed past it.
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
          local cut = tonumber(redis.call('GET', key .. ':cut') or '0')
          if cut > cursor then return {epoch, head, 'cursor_too_old', {}} end
          local entries = redis.call('XRANGE', key, '(' .. cursor .. '-0', '+')
          for _, entry in ipairs(entries) do
            table.insert(frames, string.match(entry[1], '^%d+'))
            table.insert(frames, entry[2][2])
          end
        end
        return {epoch, head, '', frames}
        """
}
