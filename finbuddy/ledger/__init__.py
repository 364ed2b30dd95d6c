"""Expenses, income, budgets, summaries, portfolio and import/export: plain functions returning dataclasses."""
