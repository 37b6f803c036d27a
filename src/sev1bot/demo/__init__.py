"""``sev1bot demo``: a scripted Sev 1 against the built-in sandbox, shown as the incident channel unfolds.

``runner`` wires the sandbox, the real bot and the script together; ``script`` is what the responders do;
``observer`` is a person's Mattermost app following the channel; ``screen`` draws it with rich;
``playbook`` writes the demo copy of the shipped playbook with its clock compressed.
"""
