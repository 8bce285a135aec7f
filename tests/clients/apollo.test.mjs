// Client compatibility: the real @apollo/client (and graphql-ws) the apps use, against a
// running CastYou server. scripts/client-tests.sh starts the server and sets CASTYOU_URL and
// CASTYOU_JWT_SECRET (used only to mint an already-expired access token).

import test from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, randomUUID } from "node:crypto";
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { CombinedGraphQLErrors } from "@apollo/client/errors";
import { BatchHttpLink } from "@apollo/client/link/batch-http";
import { ErrorLink } from "@apollo/client/link/error";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { relayStylePagination } from "@apollo/client/utilities";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { createClient } from "graphql-ws";
import { from, switchMap } from "rxjs";
import subscriptionsTransportWs from "subscriptions-transport-ws";
import WebSocket from "ws";

const URL_ = process.env.CASTYOU_URL ?? "http://127.0.0.1:18190";
const GRAPHQL = `${URL_}/graphql`;
const SECRET = process.env.CASTYOU_JWT_SECRET ?? "";

/** A fetch that records what Apollo sent. */
function recordingFetch() {
  const calls = [];
  const fetchImpl = async (url, init = {}) => {
    calls.push({ url: String(url), method: init.method ?? "GET", body: init.body });
    return fetch(url, init);
  };
  return { calls, fetchImpl };
}

/** A GraphQL request through plain fetch, for set-up. */
async function call(query, variables = {}, token) {
  const headers = { "content-type": "application/json", accept: "application/graphql-response+json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(GRAPHQL, { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

async function register(role) {
  const email = `${randomUUID()}@example.com`;
  const data = await call(
    `mutation($e: String!, $r: Role!) { register(email: $e, password: "correct horse battery", role: $r, displayName: "Client Test") {
       accessToken refreshToken user { id } } }`,
    { e: email, r: role },
  );
  return { id: data.register.user.id, access: data.register.accessToken, refresh: data.register.refreshToken };
}

/** An HS256 access token for `userId` that expired two minutes ago. */
function expiredToken(userId) {
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const header = b64({ alg: "HS256", typ: "JWT" });
  const claims = b64({ iss: "castyou", aud: "castyou-api", sub: userId, exp: now - 120, iat: now - 3600, role: "TALENT", sid: randomUUID() });
  const signature = createHmac("sha256", SECRET).update(`${header}.${claims}`).digest("base64url");
  return `${header}.${claims}.${signature}`;
}

/** Sets `Authorization` from `token()` on every operation. */
const authLink = (token) =>
  new ApolloLink((operation, forward) => {
    const current = token();
    operation.setContext(({ headers = {} }) => ({
      headers: current ? { ...headers, authorization: `Bearer ${current}` } : headers,
    }));
    return forward(operation);
  });

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

test("persisted queries: a hash miss falls back to the full query, then GET by hash hits", async () => {
  const query = gql`
    query ClientApq {
      requestId
    }
  `;
  const first = recordingFetch();
  const client = () =>
    new ApolloClient({
      cache: new InMemoryCache(),
      link: ApolloLink.from([
        new PersistedQueryLink({ sha256, useGETForHashedQueries: true }),
        new HttpLink({ uri: GRAPHQL, fetch: first.fetchImpl }),
      ]),
    });

  const a = await client().query({ query, fetchPolicy: "no-cache" });
  assert.equal(typeof a.data.requestId, "string");
  const methods = first.calls.map((c) => c.method);
  assert.deepEqual(methods, ["GET", "POST"], JSON.stringify(first.calls));
  assert.ok(first.calls[0].url.includes("extensions="), first.calls[0].url);
  assert.ok(!first.calls[0].url.includes("query="), "the first try sends the hash only");

  first.calls.length = 0;
  const b = await client().query({ query, fetchPolicy: "no-cache" });
  assert.equal(typeof b.data.requestId, "string");
  assert.equal(first.calls.length, 1);
  assert.equal(first.calls[0].method, "GET", "the registered hash is answered over GET");
});

test("BatchHttpLink: several queries go out as one request and come back in order", async () => {
  const talent = await register("TALENT");
  const recorded = recordingFetch();
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([
      authLink(() => talent.access),
      new BatchHttpLink({ uri: GRAPHQL, fetch: recorded.fetchImpl, batchMax: 5, batchInterval: 20 }),
    ]),
  });

  const [me, jobs, id] = await Promise.all([
    client.query({ query: gql`query BatchMe { me { id } }`, fetchPolicy: "no-cache" }),
    client.query({ query: gql`query BatchJobs { jobs(first: 1) { totalCount } }`, fetchPolicy: "no-cache" }),
    client.query({ query: gql`query BatchId { requestId }`, fetchPolicy: "no-cache" }),
  ]);

  assert.equal(me.data.me.id, talent.id);
  assert.equal(typeof jobs.data.jobs.totalCount, "number");
  assert.equal(typeof id.data.requestId, "string");
  assert.equal(recorded.calls.length, 1, "one HTTP request for the batch");
  assert.ok(Array.isArray(JSON.parse(recorded.calls[0].body)));
});

test("an ErrorLink sees UNAUTHENTICATED for an expired token, refreshes and retries", async () => {
  const talent = await register("TALENT");
  let token = expiredToken(talent.id);
  let refreshes = 0;
  const refresh = async () => {
    refreshes += 1;
    const data = await call(
      `mutation($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }`,
      { t: talent.refresh },
    );
    token = data.refreshToken.accessToken;
    talent.refresh = data.refreshToken.refreshToken;
  };
  const errorLink = new ErrorLink(({ error, operation, forward }) => {
    const unauthenticated =
      CombinedGraphQLErrors.is(error) && error.errors.some((e) => e.extensions?.code === "UNAUTHENTICATED");
    if (unauthenticated && refreshes === 0) {
      return from(refresh()).pipe(switchMap(() => forward(operation)));
    }
  });
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([errorLink, authLink(() => token), new HttpLink({ uri: GRAPHQL })]),
  });

  const result = await client.query({ query: gql`query Me { me { id } }`, fetchPolicy: "no-cache" });

  assert.equal(refreshes, 1);
  assert.equal(result.data.me.id, talent.id);
});

test("searchTalents: a profile just saved is found, and fetchMore pages on with relayStylePagination", async () => {
  // Letters only, unique to this run: the index tokenizes on anything else.
  const surname = `Qz${randomUUID().replace(/[^a-f]/g, "").slice(0, 10)}`;
  for (const first of ["Anabel", "Bettina", "Carmela"]) {
    const talent = await register("TALENT");
    await call(
      `mutation($i: TalentProfileInput!) { upsertTalentProfile(input: $i) { id } }`,
      { i: { stageName: `${first} ${surname}`, headline: "Character actor" } },
      talent.access,
    );
  }
  const producer = await register("PRODUCER");
  const client = new ApolloClient({
    cache: new InMemoryCache({
      typePolicies: { Query: { fields: { searchTalents: relayStylePagination(["query", "semantic"]) } } },
    }),
    link: ApolloLink.from([authLink(() => producer.access), new HttpLink({ uri: GRAPHQL })]),
  });
  const SEARCH = gql`
    query Search($q: String!, $after: String) {
      searchTalents(query: $q, semantic: false, first: 2, after: $after) {
        edges {
          cursor
          node {
            signals
            talent {
              id
              stageName
            }
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
      }
    }
  `;
  const observable = client.watchQuery({ query: SEARCH, variables: { q: surname } });
  const first = await new Promise((resolve, reject) => {
    const subscription = observable.subscribe({
      next: (result) => {
        if (result.data?.searchTalents) {
          subscription.unsubscribe();
          resolve(result);
        }
      },
      error: reject,
    });
  });
  // The three profiles saved just before are found by the next search, two to a page.
  assert.equal(first.data.searchTalents.edges.length, 2);
  assert.equal(first.data.searchTalents.pageInfo.hasNextPage, true);
  assert.ok(first.data.searchTalents.edges.every((e) => e.node.signals.includes("FULL_TEXT")));

  await observable.fetchMore({ variables: { after: first.data.searchTalents.pageInfo.endCursor } });
  const merged = client.readQuery({ query: SEARCH, variables: { q: surname } });
  const names = merged.searchTalents.edges.map((e) => e.node.talent.stageName).sort();
  assert.deepEqual(names, ["Anabel", "Bettina", "Carmela"].map((n) => `${n} ${surname}`));
  assert.equal(merged.searchTalents.pageInfo.hasNextPage, false);
});

test("errorPolicy all: a FORBIDDEN field comes back beside the data", async () => {
  const talent = await register("TALENT");
  const other = await register("TALENT");
  const client = new ApolloClient({
    cache: new InMemoryCache(),
    link: ApolloLink.from([authLink(() => talent.access), new HttpLink({ uri: GRAPHQL })]),
  });

  const result = await client.query({
    query: gql`
      query Other($id: UUID!) {
        user(id: $id) {
          id
          displayName
          email
        }
      }
    `,
    variables: { id: other.id },
    errorPolicy: "all",
    fetchPolicy: "no-cache",
  });

  assert.equal(result.data.user.id, other.id);
  // The field that failed has no value (null on the wire).
  assert.ok(result.data.user.email == null, JSON.stringify(result.data));
  assert.ok(CombinedGraphQLErrors.is(result.error), String(result.error));
  assert.equal(result.error.errors[0].extensions.code, "FORBIDDEN");
});

test("a subscription through GraphQLWsLink sees an application arrive", async () => {
  const producer = await register("PRODUCER");
  await call(`mutation { upsertProducerProfile(input: { company: "Client Pictures" }) { id } }`, {}, producer.access);
  const deadline = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();
  const created = await call(
    `mutation($d: DateTime!) { createJob(input: { title: "Lead", description: "A lead role.", productionType: FILM, applicationDeadline: $d }) { id } }`,
    { d: deadline },
    producer.access,
  );
  const jobId = created.createJob.id;
  await call(`mutation($id: UUID!) { publishJob(id: $id) { id } }`, { id: jobId }, producer.access);
  const talent = await register("TALENT");
  await call(`mutation { upsertTalentProfile(input: { stageName: "Client Talent" }) { id } }`, {}, talent.access);

  const ws = createClient({
    url: GRAPHQL.replace(/^http/, "ws"),
    webSocketImpl: WebSocket,
    connectionParams: { Authorization: `Bearer ${producer.access}` },
  });
  const client = new ApolloClient({ cache: new InMemoryCache(), link: new GraphQLWsLink(ws) });
  const events = client.subscribe({
    query: gql`
      subscription Pipeline($job: UUID!) {
        applicationPipeline(jobId: $job) {
          kind
          jobId
          application {
            id
            stage
          }
        }
      }
    `,
    variables: { job: jobId },
  });

  try {
    const first = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no event within 10 s")), 10_000);
      const subscription = events.subscribe({
        next: (value) => {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(value);
        },
        error: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      // Apply once the subscription is registered on the server.
      setTimeout(() => {
        call(`mutation($j: UUID!) { applyToJob(jobId: $j) { id } }`, { j: jobId }, talent.access).catch(reject);
      }, 500);
    });
    assert.equal(first.data.applicationPipeline.kind, "APPLIED");
    assert.equal(first.data.applicationPipeline.jobId, jobId);
    assert.equal(first.data.applicationPipeline.application.stage, "APPLIED");
  } finally {
    await ws.dispose();
  }
});

test("the legacy protocol's own client (subscriptions-transport-ws) starts before the ack and still sees events", async () => {
  const producer = await register("PRODUCER");
  await call(`mutation { upsertProducerProfile(input: { company: "Legacy Pictures" }) { id } }`, {}, producer.access);
  const deadline = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();
  const created = await call(
    `mutation($d: DateTime!) { createJob(input: { title: "Lead", description: "A lead role.", productionType: FILM, applicationDeadline: $d }) { id } }`,
    { d: deadline },
    producer.access,
  );
  const jobId = created.createJob.id;
  await call(`mutation($id: UUID!) { publishJob(id: $id) { id } }`, { id: jobId }, producer.access);
  const talent = await register("TALENT");
  await call(`mutation { upsertTalentProfile(input: { stageName: "Legacy Talent" }) { id } }`, {}, talent.access);

  // The reference client sends `start` right after `connection_init`, without waiting for
  // `connection_ack`: the server must hold it until the init is accepted, not refuse it.
  const { SubscriptionClient } = subscriptionsTransportWs;
  const legacy = new SubscriptionClient(
    GRAPHQL.replace(/^http/, "ws"),
    { connectionParams: { authorization: `Bearer ${producer.access}` }, reconnect: false },
    WebSocket,
  );
  const closed = [];
  legacy.onDisconnected(() => closed.push(Date.now()));
  // Asked at once, as an app does on start: the client queues `start` behind its init.
  const events = legacy.request({
    query: `subscription LegacyPipeline($job: UUID!) { applicationPipeline(jobId: $job) { kind jobId } }`,
    variables: { job: jobId },
  });
  try {
    const first = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no event within 10 s (disconnected: ${closed.length})`)), 10_000);
      const subscription = events.subscribe({
        next: (value) => {
          clearTimeout(timer);
          subscription.unsubscribe();
          resolve(value);
        },
        error: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      setTimeout(() => {
        call(`mutation($j: UUID!) { applyToJob(jobId: $j) { id } }`, { j: jobId }, talent.access).catch(reject);
      }, 500);
    });
    assert.equal(first.data.applicationPipeline.kind, "APPLIED");
    assert.equal(first.data.applicationPipeline.jobId, jobId);
    assert.equal(closed.length, 0, "the server closed the legacy client's socket");
  } finally {
    legacy.close();
  }
});
