-- Sets X-API-Key on every request to the next of the keys in the file named by BENCH_KEYS_FILE
-- (one per line, written by scripts/bench/keys.ts), and CF-Connecting-IP to the next of the
-- addresses given after `--`: many clients, each presenting its own key. A path with `same-key=1`
-- in its query presents the scenario's own key (its -H X-API-Key) every time, doing the same Lua
-- work, so a comparison measures the keys and not this script.
local keys = {}
local addresses = {}
local next_key = 1
local next_address = 1
local same_key = nil

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
  if string.find(wrk.path, "same-key=1", 1, true) then
    same_key = wrk.headers["X-API-Key"]
  end
  if #keys == 0 or #addresses == 0 then
    error("keys.lua: need keys in BENCH_KEYS_FILE and client addresses after --")
  end
end

function request()
  wrk.headers["X-API-Key"] = same_key or keys[next_key]
  wrk.headers["CF-Connecting-IP"] = addresses[next_address]
  next_key = next_key % #keys + 1
  next_address = next_address % #addresses + 1
  return wrk.format()
end
