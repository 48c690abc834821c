-- POSTs the JSON body given as the first argument after `--`, and sets CF-Connecting-IP on every
-- request, cycling through the addresses that follow it (as client-ips.lua does).
local addresses = {}
local next_index = 1

function init(args)
  wrk.method = "POST"
  wrk.body = args[1]
  wrk.headers["Content-Type"] = "application/json"
  for index = 2, #args do
    addresses[#addresses + 1] = args[index]
  end
  if wrk.body == nil or #addresses == 0 then
    error("json-post.lua: give the body, then the client addresses, after --")
  end
end

function request()
  wrk.headers["CF-Connecting-IP"] = addresses[next_index]
  next_index = next_index % #addresses + 1
  return wrk.format()
end
