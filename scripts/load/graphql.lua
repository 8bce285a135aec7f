-- wrk script for scripts/load.sh: POSTs one GraphQL document, with a bearer token, on every
-- request. The JSON body and the token come from the environment (LOAD_BODY, LOAD_TOKEN), so
-- one script serves every scenario. wrk itself counts non-2xx responses.
local body = os.getenv("LOAD_BODY")
local token = os.getenv("LOAD_TOKEN")
if body == nil or body == "" then
  error("LOAD_BODY is not set")
end

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json"
if token ~= nil and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
