// Program options -> Config: wired up by the lead.
