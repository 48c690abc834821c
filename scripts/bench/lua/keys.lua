-- Sets X-API-Key on every request to the next of the keys in the file named by BENCH_KEYS_FILE
-- (one per line, written by scripts/bench/keys.ts), and CF-Connecting-IP to the next of the
-- addresses given after `--`: many clients, each presenting its own key.
local keys = {}
local addresses = {}
local next_key = 1
local next_address = 1

function init(args)
  local file = os.getenv("BENCH_KEYS_FILE")
  if file == nil then
    error("keys.lua: BENCH_KEYS_FILE is not set")
  end
  for line in io.lines(file) do
    keys[#keys + 1] = line
  end
  for _, address in ipairs(args) do
    addresses[#addresses + 1] = address
  end
  if #keys == 0 or #addresses == 0 then
    error("keys.lua: need keys in BENCH_KEYS_FILE and client addresses after --")
  end
end

function request()
  wrk.headers["X-API-Key"] = keys[next_key]
  wrk.headers["CF-Connecting-IP"] = addresses[next_address]
  next_key = next_key % #keys + 1
  next_address = next_address % #addresses + 1
  return wrk.format()
end
