"""`make load`: Locust against the local stack, then checks that nothing was lost (issue #16).

Locust runs its users as gevent greenlets and patches the standard library for them; the
patch must come before anything imports ssl (requests and boto3 do), or Locust's own
import recurses until it fails. Importing any module of this package runs this first.
"""

from gevent import monkey

monkey.patch_all()
