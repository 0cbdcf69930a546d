from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'ptr_bringup'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    include_package_data=True,
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml')),
    ],
    install_requires=['setuptools'],
    extras_require={'test': ['pytest']},  # colcon test runs pytest (ament_python)
    zip_safe=False,
    maintainer='ptr-ros developers',
    maintainer_email='dev@ptr-ros.org',
    description='Launch files, parameter files, the graph runner and the ptr command line.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'ptr = ptr_bringup.cli:main'
        ],
    },
)
