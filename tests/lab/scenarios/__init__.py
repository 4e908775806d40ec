"""The lab's live scenarios: each needs the running lab (`python -m tests.lab test`)."""
