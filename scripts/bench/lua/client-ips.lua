-- Sets CF-Connecting-IP on every request, cycling through the addresses given after `--`.
-- Miniflare passes a client-supplied CF-Connecting-IP through (Cloudflare's edge overwrites it),
-- so one load generator can stand for many clients, or for one. An argument `post-json=<body>`
-- makes every request a POST of that JSON body.
local addresses = {}
local next_index = 1

function init(args)
  for _, argument in ipairs(args) do
    local body = argument:match("^post%-json=(.*)$")
    if body ~= nil then
      wrk.method = "POST"
      wrk.body = body
      wrk.headers["Content-Type"] = "application/json"
    else
      addresses[#addresses + 1] = argument
    end
  end
  if #addresses == 0 then
    error("client-ips.lua: give the client addresses after --")
  end
end

function request()
  wrk.headers["CF-Connecting-IP"] = addresses[next_index]
  next_index = next_index % #addresses + 1
  return wrk.format()
end
