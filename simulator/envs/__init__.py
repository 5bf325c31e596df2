"""Gymnasium environments of the debtor-behaviour simulator."""
