"""The package's foundation: the results base, warnings as notes, the seeding scheme, parallel
back ends and file provenance. Imports nothing else of the package."""
