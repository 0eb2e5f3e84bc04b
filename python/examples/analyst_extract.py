# %% [markdown]
# # Masking a pandas extract as the analyst role
#
# You hold a clear extract of `public.customers` (you are allowed to) and want to hand it to
# the analysts. Instead of `df.apply(lambda row: ... "XXX-XX-XXXX")`, mask it with the policy
# the gateway enforces, so the analysts get value for value what jitgate would show them.
#
# Run it as a script (`python examples/analyst_extract.py jitgate.toml RESOURCE`), or cell by
# cell in an editor that knows `# %%` cells; it uses the configuration that `jitgate demo
# --keep-running --json` prints as `config` when none is given.

# %%
import sys

import pandas as pd

import jitgate

config, resource = (sys.argv[1], sys.argv[2]) if len(sys.argv) > 2 else ("jitgate.toml", "demo")

# %% [markdown]
# The policy: the `[masking]` section of the gateway's configuration, with its masking key
# (from `key_env` or `key_file` — the notebook needs it for `hash` and `tokenize`, exactly as
# the gateway does; keep it as secret as the gateway's).

# %%
policy = jitgate.Policy.from_file(config, resource=resource)
print(policy.describe())
analyst = policy.for_groups(["analysts"])

# %% [markdown]
# A clear extract (here made up; usually `pd.read_sql(...)` or a CSV).

# %%
extract = pd.DataFrame(
    {
        "id": [1, 2, 3],
        "full_name": ["Ada Anders", "Ben Baker", "Carla Costa"],
        "email": ["ada.anders1@example.com", "ben.baker2@mail.test", "carla.costa3@inbox.example"],
        "ssn": ["123-45-6789", "078-05-1120", "536-22-1234"],
        "credit_card": ["4111 1111 1111 1111", "4012 8888 8888 1881", "4000 0566 5566 5556"],
        "phone": ["+1-415-555-2671", "+1-212-555-0199", "+1-646-555-0134"],
        "birth_date": pd.to_datetime(["1984-05-17", "1991-11-02", "1975-01-30"]).date,
        "notes": [
            "Prefers e-mail (ada.anders1@example.com); verified identity with SSN 123-45-6789.",
            "Loyal customer since 2019, no open issues.",
            "Refund sent to card 4000 0566 5566 5556 after a damaged delivery.",
        ],
    }
)

# %% [markdown]
# Mask it as the analysts see `public.customers`: each column by its rule, and every other
# text column through the content detectors, as the gateway does for a masked subject.

# %%
masked = analyst.mask_pandas(extract, table="public.customers")
print(masked.to_string())

# %% [markdown]
# Data that did not come from a table: name the masks per column.

# %%
leads = pd.DataFrame({"contact": ["ann@example.com"], "ref": ["078-05-1120"]})
print(analyst.mask_pandas(leads, columns={"contact": "public.customers.email", "ref": jitgate.Mask.partial(keep_last=4)}))

# %% [markdown]
# What the detectors find in free text, and the same text redacted.

# %%
print(jitgate.scan(extract["notes"]))
print(jitgate.redact("Call +1-415-555-2671 about SSN 078-05-1120"))
