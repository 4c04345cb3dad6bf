using bench from '../db/schema';

// Served at /odata/v4/bench, with no authentication (the keyway side checks a bearer token
// on every request: the comparison favours CAP there).
service BenchService @(path: '/odata/v4/bench') {
  entity Contact as projection on bench.Contact;
}
