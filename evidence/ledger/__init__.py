"""evidence.ledger"""
