// Package api is the agent's operator API over HTTP: JSON handlers over a
// small Backend interface, served on a unix socket for the local CLI and on
// TCP (the node's api_port) for remote use with a bearer token derived from
// the cluster key. Package api/client is the typed client the CLI and the
// tests use.
//
// Transport and authentication:
//   - unix socket: no token; access is the socket file's mode (0600, owner
//     root in production) inside a 0750 folder. Default path
//     /run/haven/NODE.sock (cmd/haven chooses it; --socket / HAVEN_SOCKET
//     override).
//   - TCP: every request needs "Authorization: Bearer TOKEN" where TOKEN is
//     derived one-way from the cluster key file (membership.Keys.APIToken),
//     so any machine holding the key file can reach any node with
//     `-c FILE --node NAME`. The comparison is constant-time.
//
// Every error is a JSON object {"error": "..."} with a 4xx/5xx status, and a
// refused or malformed request changes nothing. api imports neither
// memberlist nor raft: the composition root adapts them to Backend.
package api
