// The bench/data Contact (bench/data/schemas.yaml) as a CAP entity: the same columns, a
// UUID key, lastName indexed by run.sh after deploy (CDS declares no plain indexes).
namespace bench;

entity Contact {
  key ID         : UUID;
  firstName      : String(100) not null;
  lastName       : String(100) not null;
  email          : String(254);
  city           : String(100);
  score          : Integer;
  organizationId : UUID;
}
