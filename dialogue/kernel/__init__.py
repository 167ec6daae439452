"""The flow kernel: typed commands in, typed effects out.

Understanding turns a customer's words into commands (`commands`); the kernel executes them
against the conversation state (`execute`), walking flows as data (`flow`, one step kind per
module in `steps`) and running conversation repair as flows of their own (`patterns`). Steps and
collectors see narrow ports (`context`), never the engine; what they produce is typed effects
(`effects`). Everything a domain knows (collectors, records, presenters, identity checks, flows)
comes from a domain pack (`pack`); the kernel names no domain's tools, slots or records.
"""
