// The JSON bodies of baton's HTTP API, generated from crates/baton-proto: do not edit.
// Regenerate: BATON_WRITE_TS=1 cargo test -p baton-proto --lib typescript
export {};
